FROM busybox:1 AS build
RUN echo $HOME \
  && true

FROM busybox:1
COPY --from=build /etc/hostname /x
