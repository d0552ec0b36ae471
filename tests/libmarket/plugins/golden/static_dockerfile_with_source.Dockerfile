FROM busybox:1
COPY ["trunk", "/opt/trunk"]
