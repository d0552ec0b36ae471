FROM 127.0.0.1:5000/base/busybox:1
LABEL maintainer="Zhang San \"zs\" <zs@example.com>"
