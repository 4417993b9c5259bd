package resource

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateRoundTripAndRoles(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Load("orders", State{Primary: "node0"})
	if err != nil || s.Epoch != FirstEpoch || s.Primary != "node0" || s.RoleOf("node0") != Primary || s.RoleOf("node1") != Mirror {
		t.Fatalf("default: %+v %v", s, err)
	}
	s.Epoch, s.Primary, s.Paused = 2, "node1", []string{"payments"}
	if err := st.Save(s); err != nil {
		t.Fatal(err)
	}
	// The saved state wins over any default from then on.
	got, err := st.Load("orders", State{Primary: "node0"})
	if err != nil || got.Epoch != 2 || got.Primary != "node1" || !got.IsPaused("payments") || got.IsPaused("orders") {
		t.Fatalf("reloaded: %+v %v", got, err)
	}
	got.Stopped = true
	if got.RoleOf("node0") != Stopped || got.RoleOf("node1") != Primary {
		t.Errorf("stopped roles: %v %v", got.RoleOf("node0"), got.RoleOf("node1"))
	}
	got.Diverged = &Divergence{Epoch: 3, Primary: "node1"}
	if got.RoleOf("node0") != Diverged {
		t.Errorf("diverged role: %v", got.RoleOf("node0"))
	}
	// A lower epoch never wins.
	got.Epoch = 1
	if err := st.Save(got); !errors.Is(err, ErrEpochRegression) {
		t.Fatalf("saving a lower epoch: %v", err)
	}
	if again, _ := st.Load("orders", State{}); again.Epoch != 2 {
		t.Errorf("the regression was saved: %+v", again)
	}
}

func TestStateRefusesABadFile(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"torn":    `{"version":1,"resource":"torn","epo`,
		"other":   `{"version":1,"resource":"orders","epoch":2,"primary":"node0"}`,
		"noepoch": `{"version":1,"resource":"noepoch","primary":"node0"}`,
		"future":  `{"version":9,"resource":"future","epoch":2,"primary":"node0"}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, "resources", name+".json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if s, err := st.Load(name, State{Primary: "node0"}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: loaded %+v, %v", name, s, err)
		}
	}
}
