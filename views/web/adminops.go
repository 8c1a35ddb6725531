package web

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/projections"
	"tracker/views"
	"tracker/views/web/internal/httpx"
)

// The operations page (/admin, admins only): rebuild the projections with
// a live progress bar, upload an import (upload.go), download exports,
// see what the data takes on disk. Everything it does goes through the
// same API the command line uses.

// adminOpsRoutes: the operations and device health pages (inside the
// admin group).
func (s *Server) adminOpsRoutes(r chi.Router) {
	r.Get("/admin", s.adminPage)
	r.Get("/admin/devices", s.devicesPage)
}

// adminOpsAPI: the operations' API (inside /api/v1's admin group);
// POST /api/v1/admin/rebuild is in the same group (Router).
func (s *Server) adminOpsAPI(r chi.Router) {
	r.Get("/admin/progress", s.opsProgress)
	r.Get("/admin/storage", s.storageFigures)
	r.Post("/admin/upload", s.upload)
	r.Get("/devices/health", s.devicesHealth)
}

// Storage reports what the data directory takes on disk.
type Storage interface {
	Usage() (StorageUsage, error)
}

// StorageUsage is the data directory's size on disk, by part.
type StorageUsage struct {
	LogBytes         int64 `json:"log_bytes"`
	ProjectionsBytes int64 `json:"projections_bytes"` // every generation kept
	OtherBytes       int64 `json:"other_bytes"`       // sessions, certificates, uploads in progress
}

// StorageFigures answer GET /api/v1/admin/storage.
type StorageFigures struct {
	Events uint64 `json:"events"` // the log's head
	StorageUsage
	FreeBytes    uint64 `json:"free_bytes"`     // on the data volume (0 when not watched)
	MinFreeBytes uint64 `json:"min_free_bytes"` // below it new messages are refused
	DiskLow      bool   `json:"disk_low"`
	Error        string `json:"error,omitempty"` // why sizes are missing
}

func (s *Server) storage() StorageFigures {
	f := StorageFigures{Events: s.Log.Head()}
	if s.Storage != nil {
		u, err := s.Storage.Usage()
		if err != nil {
			f.Error = "could not measure the data directory: " + err.Error()
			s.Logger.Warn("measuring the data directory failed", "err", err)
		}
		f.StorageUsage = u
	}
	if s.Disk != nil {
		_ = s.Disk.Check() // look again (rate-limited)
		f.FreeBytes, f.MinFreeBytes, f.DiskLow = s.Disk.Free(), s.Disk.Min(), s.Disk.Low()
	}
	return f
}

func (s *Server) storageFigures(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, s.storage())
}

// Job is one long operation (a rebuild, an import) as the page follows it.
type Job struct {
	Running  bool      `json:"running"`
	Done     uint64    `json:"done"`  // events (rebuild) or input bytes (import) done
	Total    uint64    `json:"total"` // of as many
	Records  uint64    `json:"records,omitempty"`
	What     string    `json:"what,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	Error    string    `json:"error,omitempty"`
	// Result is the rebuild's stats or the import's summary, once done.
	Result any `json:"result,omitempty"`
}

// Progress answers GET /api/v1/admin/progress.
type Progress struct {
	Rebuild Job `json:"rebuild"`
	Import  Job `json:"import"`
}

// opsJobs keeps the state of the running (or last) rebuild and import,
// one of each at a time. Their work runs in the request that started it,
// with a context that ends only when the server stops (StopJobs): closing
// the page does not cut a rebuild or an import short.
type opsJobs struct {
	mu      sync.Mutex
	rebuild Job
	imp     Job
	ctx     context.Context
	stop    context.CancelFunc
}

func newOpsJobs() *opsJobs {
	ctx, stop := context.WithCancel(context.Background())
	return &opsJobs{ctx: ctx, stop: stop}
}

// start marks j running; false when it already is.
func (o *opsJobs) start(j *Job, what string, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if j.Running {
		return false
	}
	*j = Job{Running: true, What: what, Started: now}
	return true
}

func (o *opsJobs) update(j *Job, fn func(j *Job)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fn(j)
}

func (o *opsJobs) snapshot() Progress {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Progress{Rebuild: o.rebuild, Import: o.imp}
}

// StopJobs ends a running rebuild or import (which then keeps nothing
// half done: the rebuild's new projections are removed, the import's
// appended events stay and a second run skips them). serve calls it when
// shutting down, before waiting for the requests.
func (s *Server) StopJobs() { s.ops.stop() }

func (s *Server) opsProgress(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, s.ops.snapshot())
}

// errRebuildRunning answers a rebuild asked for while one runs.
var errRebuildRunning = errors.New("a rebuild is already running; follow it on /admin or GET /api/v1/admin/progress")

// rebuild replays the log into fresh projections (the running server's
// answer to `tracker rebuild`) and reports the summary. One runs at a
// time: a second request while one runs gets 409 with its progress.
// It runs to its end even when the client goes away.
func (s *Server) rebuild(w http.ResponseWriter, r *http.Request) {
	job := &s.ops.rebuild
	if !s.ops.start(job, "rebuild", s.now()) {
		s.Logger.Info("rebuild refused: one is running")
		httpx.WriteJSON(w, http.StatusConflict, struct {
			Error    string `json:"error"`
			Progress Job    `json:"progress"`
		}{errRebuildRunning.Error(), s.ops.snapshot().Rebuild})
		return
	}
	s.ops.update(job, func(j *Job) { j.Total = s.Log.Head() })
	stats, err := s.projector.Rebuild(s.ops.ctx, func(done, total uint64) {
		s.ops.update(job, func(j *Job) { j.Done, j.Total = done, total })
	})
	s.ops.update(job, func(j *Job) {
		j.Running, j.Finished = false, s.now()
		if err != nil {
			j.Error = "rebuild failed; the previous projections are unchanged"
			return
		}
		j.Done, j.Result = max(j.Done, j.Total), stats
	})
	if errors.Is(err, context.Canceled) {
		s.httpError(w, r, http.StatusServiceUnavailable, "the server is stopping; the rebuild was cancelled and the previous projections are unchanged", nil)
		return
	}
	if err != nil {
		s.httpError(w, r, http.StatusInternalServerError, "rebuild failed; the previous projections are unchanged", err)
		return
	}
	s.Logger.Info("projections rebuilt", "events", stats.Events, "invalid", stats.Invalid, "took", stats.Took)
	httpx.WriteJSON(w, http.StatusOK, stats)
}

// adminPage is the operations page.
func (s *Server) adminPage(w http.ResponseWriter, r *http.Request) {
	m := views.AdminOps{
		Page:    s.pageFor(r, "Operations", "admin"),
		Storage: storageView(s.storage()),
		Jobs:    s.opsView(),
	}
	for _, f := range s.proj(r).Friends() {
		m.Devices = append(m.Devices, f.ID)
	}
	s.render(w, r, views.AdminOpsPage(m))
}

// opsView is the jobs as the page shows them on load.
func (s *Server) opsView() views.AdminJobs {
	p := s.ops.snapshot()
	v := views.AdminJobs{Rebuild: jobView(p.Rebuild), Import: jobView(p.Import)}
	if st, ok := p.Rebuild.Result.(projections.RebuildStats); ok {
		v.RebuildEvents, v.RebuildInvalid = st.Events, st.Invalid
	}
	if sum, ok := p.Import.Result.(ImportSummary); ok {
		v.ImportText = sum.Text
	}
	return v
}

func jobView(j Job) views.AdminJob {
	return views.AdminJob{Running: j.Running, Done: j.Done, Total: j.Total, What: j.What,
		Started: j.Started, Finished: j.Finished, Error: j.Error}
}

func storageView(f StorageFigures) views.AdminStorage {
	return views.AdminStorage{Events: f.Events, LogBytes: f.LogBytes, ProjectionsBytes: f.ProjectionsBytes,
		OtherBytes: f.OtherBytes, FreeBytes: f.FreeBytes, MinFreeBytes: f.MinFreeBytes, DiskLow: f.DiskLow, Error: f.Error}
}
