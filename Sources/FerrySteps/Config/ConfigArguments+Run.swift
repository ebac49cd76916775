import AsyncHTTPClient
import FerryProtocol
import KubeClient

extension ConfigArguments {
    /// Decrypts the package's config and stores it in the Secret through the API, as the pod's
    /// service account (or `kubeconfig`) (``ConfigRestore``).
    public func run(kubeconfig: String? = nil) async throws -> ConfigResult {
        let files = try ConfigRestore.files(packageRoot: package, keyDirectory: keyDir)
        let config: ClientConfig
        do {
            config = try KubeConfigLoader.load(path: kubeconfig)
        } catch {
            throw StepError.configuration("no API access to write the Secret: \(error)")
        }
        let client = KubeClient(config: config, httpClient: HTTPClient.shared)
        return try await ConfigRestore.store(files, secret: secret, namespace: namespace ?? config.namespace, client: client)
    }
}
