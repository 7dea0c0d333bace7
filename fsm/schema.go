package fsm

import "github.com/hashicorp/go-memdb"

// Table names.
const (
	tableInstances   = "instances"
	tableDefinitions = "definitions"
	tableIndex       = "index"
)

// rowTables hold the catalog's rows (every table but the usage row and
// the table indexes).
var rowTables = []string{tableInstances, tableDefinitions, tableTokens, tableKV}

// indexEntry records the Raft index of the last write to a table; it is the
// X-Registry-Index of a read of that table and what blocking reads wait on.
type indexEntry struct {
	Table string
	Index uint64
}

// optionalIndex indexes a string field that may be empty.
func optionalIndex(name, field string) *memdb.IndexSchema {
	return &memdb.IndexSchema{Name: name, AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: field}}
}

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableInstances: {
			Name: tableInstances,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
				// URL uniqueness is enforced by register, not by go-memdb
				// (which does not check secondary unique indexes).
				"url":  {Name: "url", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "URL"}},
				"slug": optionalIndex("slug", "Slug"),
				"tag": {Name: "tag", AllowMissing: true,
					Indexer: &memdb.StringSliceFieldIndex{Field: "Tags"}},
			},
		},
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
