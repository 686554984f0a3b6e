module github.com/qualysbridge/qualysbridge

go 1.24.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/google/go-querystring v1.2.0
	github.com/hashicorp/go-cleanhttp v0.5.2
	golang.org/x/net v0.50.0
	golang.org/x/time v0.14.0
	gopkg.in/dnaeon/go-vcr.v4 v4.0.8
)

require (
	go.yaml.in/yaml/v4 v4.0.0 // indirect
	golang.org/x/sync v0.19.0 // indirect
)
