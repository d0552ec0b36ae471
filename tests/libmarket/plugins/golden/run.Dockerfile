FROM 127.0.0.1:5000/base/busybox:1
RUN apt-get update
RUN make -j2 && make install
RUN echo "a\nb" | tr -d '$'
