FROM harbor.example.com/base/openjdk:17
LABEL maintainer="team-infra@example.com"
ENV LANG="C.UTF-8"
ENV JAVA_OPTS="-Xmx512m"
ARG APP_VERSION="1.0.0"
WORKDIR /app
COPY ["src", "/app/src"]
RUN cd /app/src && ./gradlew build
RUN rm -rf /root/.gradle
COPY ["config/app.yml", "/app/config/"]
LABEL org.opencontainers.image.version="1.0.0"
EXPOSE 8080
USER app
HEALTHCHECK --interval=30s CMD ["curl", "-f", "http://localhost:8080/"]
ENTRYPOINT ["java", "-jar", "/app/src/build/app.jar"]
CMD ["--spring.profiles.active=prod"]
