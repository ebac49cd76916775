import KubeClient
public enum KubeSimModule {}
