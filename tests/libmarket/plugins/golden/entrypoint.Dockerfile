FROM 127.0.0.1:5000/base/busybox:1
ENTRYPOINT ["/bin/sh", "-c", "exec java $JAVA_OPTS -jar \"/app/a b.jar\""]
