package api

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// KVEntry is one key of the KV tree. Value is bytes (base64 in JSON).
type KVEntry struct {
	Key         string `json:"key"`
	Value       []byte `json:"value"`
	CreateIndex uint64 `json:"createIndex"`
	ModifyIndex uint64 `json:"modifyIndex"`
}

// KV limits.
const (
	MaxKVKeyLen   = 512
	MaxKVValueLen = 512 << 10
)

// ValidateKVKey checks a key of the KV tree: slash-separated segments,
// none empty and none "." or "..", printable UTF-8, at most MaxKVKeyLen
// bytes. A prefix (for listing) may be empty or end with "/".
func ValidateKVKey(key string, prefix bool) error {
	check := key
	if prefix {
		if key == "" {
			return nil
		}
		check = strings.TrimSuffix(key, "/")
	}
	switch {
	case check == "":
		return Invalid("key", "is empty: a key names something, like demi/lab42/felix/api/url")
	case len(key) > MaxKVKeyLen:
		return Invalid("key", "is %d bytes, the limit is %d", len(key), MaxKVKeyLen)
	case !utf8.ValidString(key):
		return Invalid("key", "is not UTF-8")
	}
	for _, r := range key {
		if !unicode.IsPrint(r) {
			return Invalid("key", "holds an unprintable character (%U)", r)
		}
	}
	for _, seg := range strings.Split(check, "/") {
		switch seg {
		case "":
			return Invalid("key", "%q has an empty segment (a leading, doubled or trailing '/')", key)
		case ".", "..":
			return Invalid("key", "%q has a %q segment", key, seg)
		}
	}
	return nil
}
