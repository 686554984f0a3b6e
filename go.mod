module github.com/qualysbridge/qualysbridge

go 1.24.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/google/go-querystring v1.2.0
	github.com/hashicorp/go-cleanhttp v0.5.2
	golang.org/x/net v0.50.0
	golang.org/x/sync v0.19.0
	golang.org/x/time v0.14.0
)
