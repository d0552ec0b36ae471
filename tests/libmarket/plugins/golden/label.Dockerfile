FROM 127.0.0.1:5000/base/busybox:1
LABEL org.opencontainers.image.title="Image Market"
LABEL team="infra \$x"
