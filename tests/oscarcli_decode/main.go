// Command oscarcli_decode reads FDL files exactly as oscar-cli 1.12 does and prints, one JSON line
// per service, the request body oscar-cli would send to OSCAR, so the tests can see which settings
// survive and which are dropped without a word.
//
// What it reproduces, from grycap/oscar-cli (pkg/service/service.go, ReadFDL and ApplyService, at
// the release whose go.mod pins github.com/goccy/go-yaml v1.9.8 and github.com/grycap/oscar/v3
// v3.3.0):
//   - goccy/go-yaml's Unmarshal of the whole file into oscar-cli's FDL type, whose services are
//     OSCAR 3.3's types.Service: keys are matched case-sensitively against the field tags, and a key
//     with no field is skipped silently;
//   - the script read from the FDL's folder, ClusterID set from the entry's key, the top-level
//     storage_providers and clusters copied into every service;
//   - encoding/json's Marshal of the service: the body of POST/PUT /system/services.
//
// Usage: oscarcli_decode FDL...  (one line per service: {"file","cluster","service"}; a file that
// does not decode gives one line {"file","error","cause"}, with oscar-cli's own message in error).
//
// oscarcli_decode -server reads request bodies (one JSON object a line) on stdin and prints, for
// each, the environment variables OSCAR's API decodes from it with encoding/json (case-insensitive
// keys): into OSCAR 3.3's types.Service (tag "Variables") and into the tag of OSCAR >= 3.4
// ("variables", grycap/oscar pkg/types/service.go).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/goccy/go-yaml"
	"github.com/grycap/oscar/v3/pkg/types"
)

// FDL is oscar-cli's type (pkg/service/service.go), field for field.
type FDL struct {
	Functions struct {
		Oscar []map[string]*types.Service `json:"oscar" binding:"required"`
	} `json:"functions" binding:"required"`
	StorageProviders *types.StorageProviders  `json:"storage_providers,omitempty"`
	Clusters         map[string]types.Cluster `json:"clusters,omitempty"`
}

type line struct {
	File    string          `json:"file"`
	Cluster string          `json:"cluster,omitempty"`
	Service json.RawMessage `json:"service,omitempty"`
	Error   string          `json:"error,omitempty"`
	Cause   string          `json:"cause,omitempty"`
}

func readFDL(path string) ([]line, error, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the file, please check the path"), err
	}
	fdl := &FDL{}
	if err := yaml.Unmarshal(content, fdl); err != nil {
		return nil, fmt.Errorf("the FDL file is not valid, please check its definition"), err
	}
	var out []line
	for _, element := range fdl.Functions.Oscar {
		for clusterID, svc := range element {
			scriptPath := filepath.Dir(path) + "/" + svc.Script
			script, err := os.ReadFile(scriptPath)
			if err != nil {
				return nil, fmt.Errorf("cannot load the script %q of service %q, please check the path", scriptPath, svc.Name), err
			}
			svc.Script = string(script)
			svc.ClusterID = clusterID
			svc.StorageProviders = fdl.StorageProviders
			svc.Clusters = fdl.Clusters
			body, err := json.Marshal(svc)
			if err != nil {
				return nil, fmt.Errorf("cannot encode the service %q, please check its definition", svc.Name), err
			}
			out = append(out, line{File: path, Cluster: clusterID, Service: body})
		}
	}
	return out, nil, nil
}

// environmentV34 is the environment of OSCAR >= 3.4's types.Service.
type environmentV34 struct {
	Environment struct {
		Vars    map[string]string `json:"variables"`
		Secrets map[string]string `json:"secrets"`
	} `json:"environment"`
}

func serverDecode() {
	enc := json.NewEncoder(os.Stdout)
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	for scanner.Scan() {
		var v33 types.Service
		var v34 environmentV34
		out := map[string]interface{}{}
		if err := json.Unmarshal(scanner.Bytes(), &v33); err != nil {
			out["error_v3_3"] = err.Error()
		} else {
			out["variables_v3_3"] = v33.Environment.Vars
		}
		if err := json.Unmarshal(scanner.Bytes(), &v34); err != nil {
			out["error_v3_4"] = err.Error()
		} else {
			out["variables_v3_4"] = v34.Environment.Vars
		}
		if err := enc.Encode(out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-server" {
		serverDecode()
		return
	}
	enc := json.NewEncoder(os.Stdout)
	for _, path := range os.Args[1:] {
		lines, msg, cause := readFDL(path)
		if msg != nil {
			lines = []line{{File: path, Error: msg.Error(), Cause: cause.Error()}}
		}
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
	}
}
