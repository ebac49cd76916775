import Crypto
import Foundation
import SwiftASN1
import X509

/// A small certificate authority for KubeSim's HTTPS mode: a CA, a server
/// certificate for 127.0.0.1/localhost, and client certificates (CN = user,
/// O = group) — what kube-apiserver's client-certificate authentication reads.
public struct CertificateAuthority: Sendable {
    public let certificatePEM: String
    public let keyPEM: String
    let certificate: Certificate
    let key: P256.Signing.PrivateKey

    /// A new CA with a fresh P-256 key.
    public init(commonName: String = "kubesim-ca") throws {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                SubjectKeyIdentifier(hash: .init(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        self.certificate = cert
        self.key = key
        self.certificatePEM = try cert.serializeAsPEM().pemString
        self.keyPEM = key.pemRepresentation
    }

    /// Loads a CA from PEM files written earlier (so kubeconfigs survive a restart).
    public init(certificatePEM: String, keyPEM: String) throws {
        self.certificate = try Certificate(pemEncoded: certificatePEM)
        self.key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
    }

    /// A certificate and key issued by this CA, as PEM.
    public struct Issued: Sendable {
        public let certificatePEM: String
        public let keyPEM: String
    }

    /// A server certificate valid for the given IP addresses and DNS names.
    public func issueServer(ipAddresses: [[UInt8]] = [[127, 0, 0, 1]], dnsNames: [String] = ["localhost"]) throws -> Issued {
        var names: [GeneralName] = ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
        names += dnsNames.map { .dnsName($0) }
        return try issue(commonName: "kubesim", organization: nil, usage: .serverAuth, sans: names)
    }

    /// A client certificate: CN is the user name, O the group.
    public func issueClient(user: String, group: String? = "system:masters") throws -> Issued {
        try issue(commonName: user, organization: group, usage: .clientAuth, sans: [])
    }

    func issue(commonName: String, organization: String?, usage: ExtendedKeyUsage.Usage, sans: [GeneralName]) throws -> Issued {
        let leafKey = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            if let organization { OrganizationName(organization) }
            CommonName(commonName)
        }
        let now = Date()
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(365 * 86400),
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([usage])
                AuthorityKeyIdentifier(keyIdentifier: try certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
                if !sans.isEmpty { SubjectAlternativeNames(sans) }
            },
            issuerPrivateKey: .init(key))
        return Issued(certificatePEM: try cert.serializeAsPEM().pemString, keyPEM: leafKey.pemRepresentation)
    }

    /// The common name of a DER certificate's subject (the authenticated user).
    public static func commonName(derBytes: [UInt8]) -> String? {
        guard let cert = try? Certificate(derEncoded: derBytes) else { return nil }
        for rdn in cert.subject {
            for attr in rdn where attr.type == .RDNAttributeType.commonName {
                return String(describing: attr.value)
            }
        }
        return nil
    }
}
