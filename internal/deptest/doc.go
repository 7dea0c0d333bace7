// Package deptest holds the test that pins Roster's import rules
// (ARCHITECTURE.md): imports run one way, the wire types import nothing of
// the project, and the Go client never links the engine. It has no code.
package deptest
