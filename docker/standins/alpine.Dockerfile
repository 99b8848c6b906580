# TESTING ONLY, until the bases builder can make links and files (see README.md here): finishes
# the `alpine` recipe's image (Debian's busybox-static and CA certificates) into a usable alpine
# stand-in, and tags it back under the recipe's own tag. It adds what alpine has and the recipe
# cannot express: busybox's applet links (so /bin/sh exists for RUN lines, and wget for
# HEALTHCHECKs), and an `apk` that loudly says this is not Alpine.
#
#   DOCKER_BUILDKIT=0 docker build -t webtest-base/alpine:bookworm \
#       -f docker/standins/alpine.Dockerfile docker/standins
ARG BASE=webtest-base/alpine:bookworm
FROM ${BASE}
# The image has no shell yet, so the exec form runs busybox itself.
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY apk /sbin/apk
LABEL org.opencontainers.image.description="NOT Alpine: webtest's local stand-in for alpine, Debian's busybox-static and ca-certificates with busybox's applet links and an apk that installs nothing" \
      io.webtest.standin.finished-by="docker/standins/alpine.Dockerfile"
CMD ["/bin/sh"]
