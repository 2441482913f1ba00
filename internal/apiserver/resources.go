package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/spinel-net/spinel/internal/model"
	"github.com/spinel-net/spinel/internal/neutron"
	"github.com/spinel-net/spinel/internal/query"
	"github.com/spinel-net/spinel/internal/service"
)

func (s *Server) resourceRoutes(res *service.Resource) {
	coll := "/v2.0/" + res.URLPath()
	s.handle("GET "+coll, func(w http.ResponseWriter, r *http.Request) error { return s.list(w, r, res) })
	s.handle("POST "+coll, func(w http.ResponseWriter, r *http.Request) error { return s.create(w, r, res) })
	s.handle("GET "+coll+"/{id}", func(w http.ResponseWriter, r *http.Request) error { return s.show(w, r, res) })
	s.handle("PUT "+coll+"/{id}", func(w http.ResponseWriter, r *http.Request) error { return s.update(w, r, res) })
	s.handle("DELETE "+coll+"/{id}", func(w http.ResponseWriter, r *http.Request) error { return s.delete(w, r, res) })
	if res.Tagged {
		s.tagRoutes(coll, res)
	}
}

// appendEntry writes one resource as v lets its caller see it, reusing
// the stored JSON when possible.
func appendEntry(buf *bytes.Buffer, e service.Entry, fields []string, v *service.Viewer) error {
	hidden := v.Hidden(e.Obj)
	if e.Raw != nil && !model.SchemaOf(e.Obj).HasInternal {
		if len(fields) == 0 && len(hidden) == 0 {
			buf.Write(e.Raw)
			return nil
		}
		if appendFiltered(buf, e.Raw, fields, hidden) {
			return nil
		}
	}
	return model.AppendJSON(buf, e.Obj, fields, hidden)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, res *service.Resource) error {
	params := r.URL.Query()
	q, err := query.Parse(params, res.Kind.New())
	if err != nil {
		return err
	}
	view := s.svc.Viewer(r.Context(), res)
	entries, page, err := s.svc.List(r.Context(), res, q)
	if err != nil {
		return err
	}
	// Stream the list: a large one is never held in memory twice.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf bytes.Buffer
	buf.WriteString(`{"` + res.Plural + `":[`)
	for i, e := range entries {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := appendEntry(&buf, e, q.Fields, view); err != nil {
			s.log.Error("encoding list entry", "kind", res.Singular, "err", err)
			return nil // the status is sent; end the body here
		}
		if buf.Len() > 32<<10 {
			bw.Write(buf.Bytes())
			buf.Reset()
		}
	}
	buf.WriteByte(']')
	if links := q.Links(page, baseURL(r)+r.URL.Path, params); links != nil {
		b, _ := json.Marshal(links)
		buf.WriteString(`,"` + res.Plural + `_links":`)
		buf.Write(b)
	}
	buf.WriteByte('}')
	bw.Write(buf.Bytes())
	return bw.Flush()
}

func writeOne(w http.ResponseWriter, status int, res *service.Resource, e service.Entry, fields []string, view *service.Viewer) error {
	var buf bytes.Buffer
	buf.WriteString(`{"` + res.Singular + `":`)
	if err := appendEntry(&buf, e, fields, view); err != nil {
		return err
	}
	buf.WriteByte('}')
	writeRaw(w, status, buf.Bytes())
	return nil
}

func (s *Server) show(w http.ResponseWriter, r *http.Request, res *service.Resource) error {
	e, err := s.svc.Show(r.Context(), res, r.PathValue("id"))
	if err != nil {
		return err
	}
	q, err := query.Parse(fieldsOnly(r), res.Kind.New())
	if err != nil {
		return err
	}
	return writeOne(w, http.StatusOK, res, e, q.Fields, s.svc.Viewer(r.Context(), res))
}

// fieldsOnly keeps the fields= parameters of a show request.
func fieldsOnly(r *http.Request) map[string][]string {
	return map[string][]string{"fields": r.URL.Query()["fields"]}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, res *service.Resource) error {
	if res.Create == nil {
		return neutron.Newf(http.StatusMethodNotAllowed, "HTTPMethodNotAllowed", "The method is not allowed for this resource.")
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	view := s.svc.Viewer(r.Context(), res)
	if raw, ok := body[res.Plural]; ok {
		return s.bulkCreate(w, r.Context(), res, raw, view)
	}
	inner, err := envelope(body, res.Singular)
	if err != nil {
		return err
	}
	obj, err := res.Create(r.Context(), inner)
	if err != nil {
		return err
	}
	return writeOne(w, http.StatusCreated, res, service.Entry{Obj: obj}, nil, view)
}

// bulkCreate creates several resources from {"<plural>": [...]}. If one
// fails, those already created are deleted again and the error returned.
func (s *Server) bulkCreate(w http.ResponseWriter, ctx context.Context, res *service.Resource, raw json.RawMessage, view *service.Viewer) error {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return neutron.BadRequest("Body contains invalid data")
	}
	if len(items) == 0 {
		return neutron.BadRequest("Resources required")
	}
	for i, it := range items {
		// Items may be given bare or in their own envelope.
		if inner, ok := it[res.Singular]; ok && len(it) == 1 {
			var m map[string]json.RawMessage
			if json.Unmarshal(inner, &m) == nil && m != nil {
				items[i] = m
			}
		}
	}
	var created []model.Object
	for _, it := range items {
		if it == nil {
			err := neutron.BadRequest("Invalid input for %s. Reason: a list of dictionaries is expected.", res.Plural)
			s.rollback(ctx, res, created)
			return err
		}
		obj, err := res.Create(ctx, it)
		if err != nil {
			s.rollback(ctx, res, created)
			return err
		}
		created = append(created, obj)
	}
	var buf bytes.Buffer
	buf.WriteString(`{"` + res.Plural + `":[`)
	for i, o := range created {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := model.AppendJSON(&buf, o, nil, view.Hidden(o)); err != nil {
			return err
		}
	}
	buf.WriteString("]}")
	writeRaw(w, http.StatusCreated, buf.Bytes())
	return nil
}

func (s *Server) rollback(ctx context.Context, res *service.Resource, created []model.Object) {
	for _, o := range created {
		if err := res.Delete(context.WithoutCancel(ctx), o.GetID(), nil); err != nil {
			s.log.Error("rolling back bulk create", "kind", res.Singular, "id", o.GetID(), "err", err)
		}
	}
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, res *service.Resource) error {
	if res.Update == nil {
		return neutron.Newf(http.StatusMethodNotAllowed, "HTTPMethodNotAllowed", "The method is not allowed for this resource.")
	}
	im, err := ifMatch(r)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	inner, err := envelope(body, res.Singular)
	if err != nil {
		return err
	}
	obj, err := res.Update(r.Context(), r.PathValue("id"), inner, im)
	if err != nil {
		return err
	}
	return writeOne(w, http.StatusOK, res, service.Entry{Obj: obj}, nil, s.svc.Viewer(r.Context(), res))
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, res *service.Resource) error {
	if b, _ := io.ReadAll(io.LimitReader(r.Body, 1)); len(b) > 0 {
		return neutron.BadRequest("Request body is not supported in DELETE.")
	}
	im, err := ifMatch(r)
	if err != nil {
		return err
	}
	if err := res.Delete(r.Context(), r.PathValue("id"), im); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) tagRoutes(coll string, res *service.Resource) {
	tags := coll + "/{id}/tags"
	s.handle("GET "+tags, func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.svc.Tags(r.Context(), res, r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"tags": t})
		return nil
	})
	s.handle("GET "+tags+"/{tag}", func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.svc.Tags(r.Context(), res, r.PathValue("id"))
		if err != nil {
			return err
		}
		for _, x := range t {
			if x == r.PathValue("tag") {
				w.WriteHeader(http.StatusNoContent)
				return nil
			}
		}
		return neutron.NotFound("TagNotFound", "Tag %s could not be found for %s %s.", r.PathValue("tag"), res.Singular, r.PathValue("id"))
	})
	s.handle("PUT "+tags, func(w http.ResponseWriter, r *http.Request) error {
		body, err := readBody(r)
		if err != nil {
			return err
		}
		var list []string
		raw, ok := body["tags"]
		if !ok {
			return neutron.InvalidInput("Invalid tags body")
		}
		if string(bytes.TrimSpace(raw)) == "null" || json.Unmarshal(raw, &list) != nil {
			return neutron.InvalidInput("'%s' is not a list", strings.TrimSpace(string(raw)))
		}
		t, err := s.svc.ChangeTags(r.Context(), res, r.PathValue("id"), service.TagsReplace, list)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"tags": t})
		return nil
	})
	s.handle("PUT "+tags+"/{tag}", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.svc.ChangeTags(r.Context(), res, r.PathValue("id"), service.TagAdd, []string{r.PathValue("tag")}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	s.handle("DELETE "+tags, func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.svc.ChangeTags(r.Context(), res, r.PathValue("id"), service.TagsClear, nil); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("DELETE "+tags+"/{tag}", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.svc.ChangeTags(r.Context(), res, r.PathValue("id"), service.TagRemove, []string{r.PathValue("tag")}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
