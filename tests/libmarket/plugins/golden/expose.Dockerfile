FROM 127.0.0.1:5000/base/busybox:1
EXPOSE 80 443/tcp 53/udp
