FROM 127.0.0.1:5000/base/busybox:1
HEALTHCHECK CMD ["true"]
