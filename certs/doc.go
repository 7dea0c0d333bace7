// Package certs is the cluster's public key infrastructure: the CA and the
// certificates `roster tls` makes (Go's crypto/x509 and crypto/ecdsa, no
// hand-rolled cryptography), loading them for an agent or a CLI, and the
// TLS configurations of Raft's stream layer and the HTTP API.
//
// A node certificate names its node ID as its subject's common name and
// carries the DNS name ServerName, which every node certificate shares:
// nodes verify each other against that name and the CA, not against the
// address they dialled (addresses come from gossip and prove nothing), and
// then check the node ID where they know whom they meant to reach. A client
// certificate (for an operator's CLI) has no ServerName and can never pass
// for a node.
package certs
