package ovsdb

// Marshal converts a typed row, a struct or pointer to struct whose fields
// carry `ovsdb:"column"` tags, into a Row. The "_uuid" column is left out.
// With columns given, only those columns are included (for an update that
// sets some columns only). Field types: string, integers, float64, bool,
// UUID, pointers to those (nil is the empty set), slices of those (sets)
// and maps of those (maps).
func Marshal(v any, columns ...string) (Row, error) { panic("unimplemented") }

// Unmarshal fills the tagged fields of the struct *v from row, converting
// decoded values to the fields' types (a set of at most one element to a
// scalar or pointer, a Set to a slice, a Map to a Go map; a UUID to a
// string). Columns missing from row leave their fields untouched.
func Unmarshal(row Row, v any) error { panic("unimplemented") }
