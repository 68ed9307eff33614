// Package pb holds the generated protobuf types of the wire protocol. Edit the .proto files
// next to this one and run `go generate ./protocol/pb` (needs protoc and protoc-gen-go
// v1.36.12: `apt-get install protobuf-compiler` and
// `go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12`). The generated files
// are committed, so building and testing need neither tool.
package pb

//go:generate protoc --go_out=. --go_opt=paths=source_relative -I . manifest.proto wire.proto
