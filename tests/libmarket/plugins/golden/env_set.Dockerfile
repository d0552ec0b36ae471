FROM 127.0.0.1:5000/base/busybox:1
ENV JAVA_HOME="/usr/lib/jvm"
ENV GREETING="say \"hi\" \\o/"
ENV PATHS="\$PATH:/opt"
ENV EMPTY=""
ENV ZH="中文   ok"
