# The Roster image: the static roster binary and nothing else. No base image
# is pulled (FROM scratch), so it builds offline: `make image` builds
# bin/roster-static (CGO_ENABLED=0) and then this. Without cgo the binary
# cannot load NVML: nodes report no GPUs; build with cgo on a base image
# that has the NVIDIA libraries to collect GPU metadata.
FROM scratch
COPY bin/roster-static /roster
# HTTP API, gossip (TCP and UDP), Raft.
EXPOSE 11337 11338/tcp 11338/udp 11339
VOLUME /data
ENTRYPOINT ["/roster"]
CMD ["agent", "--data-dir", "/data", "--http-addr", "0.0.0.0:11337"]
