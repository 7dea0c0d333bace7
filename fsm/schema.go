package fsm

import "github.com/hashicorp/go-memdb"

// Table names.
const (
	tableInstances   = "instances"
	tableDefinitions = "definitions"
	tableIndex       = "index"
)

// rowTables hold the catalog's rows (every table but the usage row and
// the table indexes); memdbRowTables are those go-memdb keeps (instances
// are in the store's instTable).
var (
	rowTables      = []string{tableInstances, tableDefinitions, tableTokens, tableKV}
	memdbRowTables = []string{tableDefinitions, tableTokens, tableKV}
)

// indexEntry records the Raft index of the last write to a table; it is the
// X-Registry-Index of a read of that table and what blocking reads wait on.
type indexEntry struct {
	Table string
	Index uint64
}

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableDefinitions: {
			Name: tableDefinitions,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			},
		},
		tableTokens: {
			Name: tableTokens,
			Indexes: map[string]*memdb.IndexSchema{
				"id":     {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "AccessorID"}},
				"secret": {Name: "secret", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "SecretHash"}},
			},
		},
		tableKV: {
			Name: tableKV,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
			},
		},
		tableUsage: {
			Name: tableUsage,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			},
		},
		tableIndex: {
			Name: tableIndex,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Table"}},
			},
		},
	}}
}
