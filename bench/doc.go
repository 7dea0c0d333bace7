// Package bench measures Roster: Load is the load generator behind
// `roster bench` (register, deregister, read and mixed workloads against
// any cluster), and Suite is `make bench`, which starts a three-node
// cluster of agent processes and prints one table of medians next to the
// disk's own fsync ceiling and, beside it, a three-member etcd cluster
// driven by etcdload (bench/etcdload, a module of its own).
package bench
