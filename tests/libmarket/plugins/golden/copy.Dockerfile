FROM 127.0.0.1:5000/base/busybox:1
COPY ["target/app.jar", "/app/app.jar"]
COPY ["conf/*.yml", "/etc/app/"]
COPY ["my dir/x", "rel/"]
