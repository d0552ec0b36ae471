FROM 127.0.0.1:5000/base/busybox:1
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m --retries=3 CMD ["curl", "-f", "http://localhost:8080/healthz"]
