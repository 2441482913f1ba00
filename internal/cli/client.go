package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/spinel-net/spinel/internal/clientout"
	"github.com/spinel-net/spinel/internal/osauth"
)

// ExecuteIO is Execute with the commands' output sent to stdout and
// stderr instead of the process's (for tests driving the client).
func ExecuteIO(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// clientCmds returns the client's resource commands.
func clientCmds() []*cobra.Command {
	return []*cobra.Command{newNetworkCmd(), newSubnetCmd(), newPortCmd(), newSecurityGroupCmd(), newSecurityGroupRuleCmd(), newQuotaCmd()}
}

// connFlags registers the connection flags (openstack CLI names) on cmd
// as persistent flags, so that every verb under it takes them.
func connFlags(cmd *cobra.Command) *osauth.Settings {
	s := &osauth.Settings{}
	f := cmd.PersistentFlags()
	f.StringVar(&s.URL, "url", "", "a noauth spinel server's URL (default $SPINEL_URL); no Keystone")
	f.StringVar(&s.Roles, "os-roles", "", "noauth only: X-Roles to send with --os-project-id (default $SPINEL_ROLES)")
	f.StringVar(&s.Cloud, "os-cloud", "", "cloud in clouds.yaml (default $OS_CLOUD)")
	f.StringVar(&s.AuthType, "os-auth-type", "", "password, token or none (default $OS_AUTH_TYPE)")
	f.StringVar(&s.AuthURL, "os-auth-url", "", "Keystone URL (default $OS_AUTH_URL)")
	f.StringVar(&s.Username, "os-username", "", "user name (default $OS_USERNAME)")
	f.StringVar(&s.UserID, "os-user-id", "", "user id (default $OS_USER_ID)")
	f.StringVar(&s.Password, "os-password", "", "password (default $OS_PASSWORD)")
	f.StringVar(&s.ProjectName, "os-project-name", "", "project to act in (default $OS_PROJECT_NAME)")
	f.StringVar(&s.ProjectID, "os-project-id", "", "project id to act in; with --url, sent as X-Project-Id (default $OS_PROJECT_ID)")
	f.StringVar(&s.UserDomainName, "os-user-domain-name", "", "user's domain (default $OS_USER_DOMAIN_NAME)")
	f.StringVar(&s.UserDomainID, "os-user-domain-id", "", "user's domain id (default $OS_USER_DOMAIN_ID)")
	f.StringVar(&s.ProjectDomainName, "os-project-domain-name", "", "project's domain (default $OS_PROJECT_DOMAIN_NAME)")
	f.StringVar(&s.ProjectDomainID, "os-project-domain-id", "", "project's domain id (default $OS_PROJECT_DOMAIN_ID)")
	f.StringVar(&s.RegionName, "os-region-name", "", "region of the network endpoint (default $OS_REGION_NAME)")
	f.StringVar(&s.Interface, "os-interface", "", "endpoint interface: public, internal, admin (default $OS_INTERFACE or public)")
	f.StringVar(&s.CACert, "os-cacert", "", "PEM file of the CAs to trust (default $OS_CACERT)")
	f.BoolVar(&s.Insecure, "insecure", false, "do not verify TLS certificates")
	f.StringVar(&s.Token, "os-token", "", "an existing token (default $OS_TOKEN)")
	f.StringVar(&s.Endpoint, "os-endpoint", "", "network API URL, overriding the catalog (default $OS_ENDPOINT or $OS_URL)")
	return s
}

// apiClient talks to the network API over a session.
type apiClient struct {
	sess *osauth.Session
}

// connect resolves the settings and authenticates.
func connect(ctx context.Context, flags *osauth.Settings) (*apiClient, error) {
	s, err := osauth.Resolve(osauth.Sources{Flags: *flags})
	if err != nil {
		return nil, err
	}
	sess, err := osauth.Connect(ctx, s)
	if err != nil {
		return nil, err
	}
	return &apiClient{sess: sess}, nil
}

// apiError is an error answer of the API; its message is Neutron's.
type apiError struct {
	Status  int
	Type    string
	Message string
}

func (e *apiError) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Type)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

func isNotFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// do sends a request with in (if not nil) as JSON and decodes the answer
// into out (if not nil), numbers kept as json.Number.
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := c.sess.NewRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.sess.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp.StatusCode, rb)
	}
	if out == nil || len(rb) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(rb))
	d.UseNumber()
	if err := d.Decode(out); err != nil {
		return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
	}
	return nil
}

// decodeError turns an error answer into an apiError with Neutron's message.
func decodeError(code int, body []byte) error {
	var ne struct {
		NeutronError *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
			Detail  string `json:"detail"`
		} `json:"NeutronError"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	e := &apiError{Status: code}
	if json.Unmarshal(body, &ne) == nil && ne.NeutronError != nil {
		e.Type, e.Message = ne.NeutronError.Type, ne.NeutronError.Message
	} else if ne.Error != nil && ne.Error.Message != "" {
		e.Message = ne.Error.Message
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	if e.Message == "" {
		e.Message = http.StatusText(code)
	}
	return e
}

// resource describes one kind of the network API for the generic verbs.
type resource struct {
	singular string // JSON key of one: "security_group"
	plural   string // JSON key of a list: "security_groups"
	path     string // /v2.0/security-groups
	title    string // in messages: "SecurityGroup"
	// show renders fields specially in show/create/set tables.
	show map[string]func(any) string
	// rename names fields differently in show/create/set output.
	rename map[string]string
	// unnamed resources (rules) are found by id only.
	unnamed bool
}

// list returns the resources matching query, following next links.
func (c *apiClient) list(ctx context.Context, r *resource, query url.Values) ([]map[string]any, error) {
	path := r.path
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	var all []map[string]any
	for path != "" {
		var page map[string]json.RawMessage
		if err := c.do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return nil, err
		}
		var items []map[string]any
		d := json.NewDecoder(bytes.NewReader(page[r.plural]))
		d.UseNumber()
		if err := d.Decode(&items); err != nil {
			return nil, fmt.Errorf("listing %s: bad answer: %w", r.plural, err)
		}
		all = append(all, items...)
		path = ""
		var links []struct{ Rel, Href string }
		if json.Unmarshal(page[r.plural+"_links"], &links) == nil {
			for _, l := range links {
				if l.Rel == "next" && len(items) > 0 {
					if u, err := url.Parse(l.Href); err == nil {
						path = u.RequestURI()
					}
				}
			}
		}
	}
	return all, nil
}

// get returns one resource by id.
func (c *apiClient) get(ctx context.Context, r *resource, id string) (map[string]any, error) {
	var out map[string]map[string]any
	if err := c.do(ctx, http.MethodGet, r.path+"/"+url.PathEscape(id), nil, &out); err != nil {
		return nil, err
	}
	return out[r.singular], nil
}

// find returns the resource whose id or name is nameOrID, as the openstack
// CLI does: by id first, then by name; a name several resources share is
// an error unless exactly one of them is in the caller's own project.
func (c *apiClient) find(ctx context.Context, r *resource, nameOrID string) (map[string]any, error) {
	if nameOrID == "" {
		return nil, fmt.Errorf("no %s given", r.title)
	}
	obj, err := c.get(ctx, r, nameOrID)
	if err == nil {
		return obj, nil
	}
	if !isNotFound(err) {
		return nil, err
	}
	if r.unnamed {
		return nil, fmt.Errorf("no %s found for %s", r.title, nameOrID)
	}
	matches, err := c.list(ctx, r, url.Values{"name": {nameOrID}})
	if err != nil {
		return nil, err
	}
	switch len(matches) {
	case 0:
		return nil, fmt.Errorf("no %s found for %s", r.title, nameOrID)
	case 1:
		return matches[0], nil
	}
	if own, err := c.ownProject(ctx); err == nil && own != "" {
		var mine []map[string]any
		for _, m := range matches {
			if m["project_id"] == own {
				mine = append(mine, m)
			}
		}
		if len(mine) == 1 {
			return mine[0], nil
		}
	}
	return nil, fmt.Errorf("more than one %s exists with the name '%s': use its id", r.title, nameOrID)
}

// findID is find's id.
func (c *apiClient) findID(ctx context.Context, r *resource, nameOrID string) (string, error) {
	obj, err := c.find(ctx, r, nameOrID)
	if err != nil {
		return "", err
	}
	return str(obj["id"]), nil
}

// ownProject returns the project the client acts in.
func (c *apiClient) ownProject(ctx context.Context) (string, error) {
	if c.sess.ProjectID != "" {
		return c.sess.ProjectID, nil
	}
	var out struct {
		Tenant struct {
			TenantID string `json:"tenant_id"`
		} `json:"tenant"`
	}
	if err := c.do(ctx, http.MethodGet, "/v2.0/quotas/tenant", nil, &out); err != nil {
		return "", err
	}
	return out.Tenant.TenantID, nil
}

// project resolves a --project value.
func (c *apiClient) project(ctx context.Context, nameOrID string) (string, error) {
	return c.sess.ResolveProject(ctx, nameOrID)
}

// create posts body and returns the created resource.
func (c *apiClient) create(ctx context.Context, r *resource, body map[string]any) (map[string]any, error) {
	var out map[string]map[string]any
	if err := c.do(ctx, http.MethodPost, r.path, map[string]any{r.singular: body}, &out); err != nil {
		return nil, err
	}
	return out[r.singular], nil
}

// update puts body and returns the updated resource.
func (c *apiClient) update(ctx context.Context, r *resource, id string, body map[string]any) (map[string]any, error) {
	var out map[string]map[string]any
	if err := c.do(ctx, http.MethodPut, r.path+"/"+url.PathEscape(id), map[string]any{r.singular: body}, &out); err != nil {
		return nil, err
	}
	return out[r.singular], nil
}

// setTags replaces the tags of a resource.
func (c *apiClient) setTags(ctx context.Context, r *resource, id string, tags []string) error {
	if tags == nil {
		tags = []string{}
	}
	return c.do(ctx, http.MethodPut, r.path+"/"+url.PathEscape(id)+"/tags", map[string]any{"tags": tags}, nil)
}

// createTagged creates a resource and then sets its tags (the API takes
// no tags in a create); a resource whose tags cannot be set is deleted
// again, so that a failed command leaves nothing behind.
func (c *apiClient) createTagged(ctx context.Context, r *resource, body map[string]any, tags []string) (map[string]any, error) {
	obj, err := c.create(ctx, r, body)
	if err != nil || len(tags) == 0 {
		return obj, err
	}
	id := str(obj["id"])
	if err := c.setTags(ctx, r, id, tags); err != nil {
		if derr := c.do(context.WithoutCancel(ctx), http.MethodDelete, r.path+"/"+url.PathEscape(id), nil, nil); derr != nil {
			return nil, fmt.Errorf("setting tags: %w (and deleting the new %s %s again failed: %v)", err, r.title, id, derr)
		}
		return nil, fmt.Errorf("setting tags: %w", err)
	}
	return c.get(ctx, r, id)
}

// showResource prints one resource as the openstack CLI's show does:
// every field, sorted by name (tenant_id left out), rendered by the
// resource's special renderers.
func showResource(cmd *cobra.Command, o clientout.Options, r *resource, obj map[string]any) error {
	names := map[string]string{} // shown name → field
	keys := make([]string, 0, len(obj))
	for k := range obj {
		if k == "tenant_id" {
			continue
		}
		name := k
		if n, ok := r.rename[k]; ok {
			name = n
		}
		names[name] = k
		keys = append(keys, name)
	}
	sort.Strings(keys)
	cols := make([]clientout.Column, len(keys))
	vals := make([]any, len(keys))
	for i, name := range keys {
		k := names[name]
		cols[i] = clientout.Column{Name: name, Human: r.show[k]}
		vals[i] = obj[k]
	}
	return clientout.Show(cmd.OutOrStdout(), o, cols, vals)
}

// listCol is a column of a list: its header, where its value comes from
// and how a table shows it.
type listCol struct {
	header string
	key    string                   // the field, unless get is set
	get    func(map[string]any) any // a computed value
	fields []string                 // the fields get needs
	human  func(any) string
}

// withFields asks the API for only the fields the columns show (Neutron's
// fields= parameter): a list of thousands then carries a few fields each.
func withFields(q url.Values, cols []listCol) url.Values {
	for _, c := range cols {
		if c.get == nil {
			q.Add("fields", c.key)
		}
		for _, f := range c.fields {
			q.Add("fields", f)
		}
	}
	return q
}

// printList prints objs with cols.
func printList(cmd *cobra.Command, o clientout.Options, cols []listCol, objs []map[string]any) error {
	out := make([]clientout.Column, len(cols))
	for i, c := range cols {
		out[i] = clientout.Column{Name: c.header, Human: c.human}
	}
	rows := make([][]any, len(objs))
	for r, obj := range objs {
		rows[r] = make([]any, len(cols))
		for i, c := range cols {
			if c.get != nil {
				rows[r][i] = c.get(obj)
			} else {
				rows[r][i] = obj[c.key]
			}
		}
	}
	return clientout.List(cmd.OutOrStdout(), o, out, rows)
}

// deleteAll deletes each resource named, going on after a failure as the
// openstack CLI does, and reports the failures at the end.
func deleteAll(cmd *cobra.Command, flags *osauth.Settings, r *resource, names []string) error {
	ctx := cmd.Context()
	c, err := connect(ctx, flags)
	if err != nil {
		return err
	}
	var failed []string
	for _, n := range names {
		id, err := c.findID(ctx, r, n)
		if err == nil {
			err = c.do(ctx, http.MethodDelete, r.path+"/"+url.PathEscape(id), nil, nil)
		}
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "Failed to delete %s with name or ID '%s': %v\n", r.singular, n, err)
			failed = append(failed, err.Error())
		}
	}
	if len(failed) == 1 && len(names) == 1 {
		return errors.New(failed[0])
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d %s failed to delete", len(failed), len(names), r.plural)
	}
	return nil
}

// setResource finds the resource, lets edit fill the update from the
// current state, updates it when there is anything to change, sets its
// tags when --tag or --no-tag was given, and shows it.
func setResource(cmd *cobra.Command, flags *osauth.Settings, r *resource, o clientout.Options, nameOrID string,
	edit func(c *apiClient, cur, body map[string]any) error) error {
	if err := o.Check(); err != nil {
		return err
	}
	ctx := cmd.Context()
	c, err := connect(ctx, flags)
	if err != nil {
		return err
	}
	cur, err := c.find(ctx, r, nameOrID)
	if err != nil {
		return err
	}
	body := map[string]any{}
	if err := edit(c, cur, body); err != nil {
		return err
	}
	id := str(cur["id"])
	obj := cur
	if len(body) > 0 {
		if obj, err = c.update(ctx, r, id, body); err != nil {
			return err
		}
	}
	if fs := cmd.Flags(); fs.Lookup("tag") != nil {
		if tags := tagsFor(fs, cur["tags"]); tags != nil {
			if err := c.setTags(ctx, r, id, tags); err != nil {
				return err
			}
			if obj, err = c.get(ctx, r, id); err != nil {
				return err
			}
		}
	}
	return showResource(cmd, o, r, obj)
}

// newResourceGroup returns the command grouping a resource's verbs, with
// the connection flags, and the settings they fill.
func newResourceGroup(use, short string) (*cobra.Command, *osauth.Settings) {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	return cmd, connFlags(cmd)
}

// listSpec describes a resource's list command: its own filters, added
// to the query after --project and --name, and its columns.
type listSpec struct {
	use, short string
	args       cobra.PositionalArgs
	query      func(ctx context.Context, c *apiClient, fs *pflag.FlagSet, args []string, q url.Values) error
	cols       func(fs *pflag.FlagSet, args []string) []listCol
}

// genericList adds r's list command to group and returns its flag set for
// the resource's own flags (the output flags are added already).
func genericList(group *cobra.Command, flags *osauth.Settings, r *resource, spec listSpec) *pflag.FlagSet {
	var o clientout.Options
	cmd := &cobra.Command{
		Use: spec.use, Short: spec.short, Args: spec.args,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Check(); err != nil {
				return err
			}
			ctx, fs := cmd.Context(), cmd.Flags()
			c, err := connect(ctx, flags)
			if err != nil {
				return err
			}
			q, err := listQuery(ctx, c, fs)
			if err != nil {
				return err
			}
			if err := spec.query(ctx, c, fs, args, q); err != nil {
				return err
			}
			cols := spec.cols(fs, args)
			objs, err := c.list(ctx, r, withFields(q, cols))
			if err != nil {
				return err
			}
			return printList(cmd, o, cols, objs)
		},
	}
	o.AddFlags(cmd.Flags())
	group.AddCommand(cmd)
	return cmd.Flags()
}

// genericShow adds "show NAME_OR_ID".
func genericShow(group *cobra.Command, flags *osauth.Settings, r *resource, what string) {
	var o clientout.Options
	cmd := &cobra.Command{
		Use: "show " + strings.ToUpper(what), Short: "Show a " + what, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Check(); err != nil {
				return err
			}
			c, err := connect(cmd.Context(), flags)
			if err != nil {
				return err
			}
			obj, err := c.find(cmd.Context(), r, args[0])
			if err != nil {
				return err
			}
			return showResource(cmd, o, r, obj)
		},
	}
	o.AddFlags(cmd.Flags())
	group.AddCommand(cmd)
}

// genericDelete adds "delete NAME_OR_ID...".
func genericDelete(group *cobra.Command, flags *osauth.Settings, r *resource, what string) {
	group.AddCommand(&cobra.Command{
		Use: "delete " + strings.ToUpper(what) + "...", Short: "Delete " + what + "s", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return deleteAll(cmd, flags, r, args) },
	})
}

// toggle reads a pair of opposite flags (e.g. --enable/--disable) into
// body[key]; giving both is an error.
func toggle(fs *pflag.FlagSet, body map[string]any, key, on, off string) error {
	a, _ := fs.GetBool(on)
	b, _ := fs.GetBool(off)
	switch {
	case a && b:
		return fmt.Errorf("--%s and --%s are mutually exclusive", on, off)
	case a:
		body[key] = true
	case b:
		body[key] = false
	}
	return nil
}

// toggleQuery is toggle for list filters.
func toggleQuery(fs *pflag.FlagSet, q url.Values, key, on, off string) error {
	m := map[string]any{}
	if err := toggle(fs, m, key, on, off); err != nil {
		return err
	}
	if v, ok := m[key]; ok {
		q.Set(key, strconv.FormatBool(v.(bool)))
	}
	return nil
}

// setIf puts the flag's value into body[key] when the flag was given.
func setIf(fs *pflag.FlagSet, body map[string]any, flag, key string) {
	if !fs.Changed(flag) {
		return
	}
	f := fs.Lookup(flag)
	switch f.Value.Type() {
	case "int":
		n, _ := fs.GetInt(flag)
		body[key] = n
	default:
		body[key] = f.Value.String()
	}
}

// parseKV parses "k=v,k=v" (the openstack CLI's MultiKeyValueAction),
// checking that every key is allowed and the required ones are there.
func parseKV(flag, s string, allowed, required []string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: expected %s", flag, s, kvHelp(allowed))
		}
		found := false
		for _, a := range allowed {
			if a == k {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("--%s %q: unknown key %q (keys: %s)", flag, s, k, strings.Join(allowed, ", "))
		}
		out[k] = v
	}
	for _, r := range required {
		if out[r] == "" {
			return nil, fmt.Errorf("--%s %q: missing %s= (expected %s)", flag, s, r, kvHelp(allowed))
		}
	}
	return out, nil
}

func kvHelp(keys []string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=..."
	}
	return strings.Join(parts, ",")
}

// tagFlags registers --tag and --no-tag.
func tagFlags(fs *pflag.FlagSet, create bool) {
	fs.StringArray("tag", nil, "tag to add (repeat for more)")
	if create {
		fs.Bool("no-tag", false, "no tags")
	} else {
		fs.Bool("no-tag", false, "clear the tags (before adding any --tag)")
	}
}

// tagsFor returns the tags to set after create or set: nil when the
// command leaves them alone.
func tagsFor(fs *pflag.FlagSet, current any) []string {
	add, _ := fs.GetStringArray("tag")
	reset, _ := fs.GetBool("no-tag")
	if len(add) == 0 && !reset {
		return nil
	}
	tags := []string{}
	if !reset {
		if cur, ok := current.([]any); ok {
			for _, t := range cur {
				tags = append(tags, str(t))
			}
		}
	}
	for _, t := range add {
		dup := false
		for _, have := range tags {
			dup = dup || have == t
		}
		if !dup {
			tags = append(tags, t)
		}
	}
	return tags
}

// tagFilterFlags registers the list filters on tags.
func tagFilterFlags(fs *pflag.FlagSet) {
	fs.StringSlice("tags", nil, "only resources with all these tags (comma-separated)")
	fs.StringSlice("any-tags", nil, "only resources with any of these tags")
	fs.StringSlice("not-tags", nil, "leave out resources with all these tags")
	fs.StringSlice("not-any-tags", nil, "leave out resources with any of these tags")
}

// tagFilters adds the tag filters given to q.
func tagFilters(fs *pflag.FlagSet, q url.Values) {
	for _, f := range []string{"tags", "any-tags", "not-tags", "not-any-tags"} {
		if v, _ := fs.GetStringSlice(f); len(v) > 0 {
			q.Set(strings.ReplaceAll(f, "-", "_"), strings.Join(v, ","))
		}
	}
}

// listFlags registers --project, --name and --long.
func listFlags(fs *pflag.FlagSet, long bool) {
	fs.String("project", "", "only resources of this project (name or id)")
	fs.String("name", "", "only resources with this name")
	if long {
		fs.Bool("long", false, "more columns")
	}
}

// listQuery starts a list query from --project and --name.
func listQuery(ctx context.Context, c *apiClient, fs *pflag.FlagSet) (url.Values, error) {
	q := url.Values{}
	if p, _ := fs.GetString("project"); p != "" {
		id, err := c.project(ctx, p)
		if err != nil {
			return nil, err
		}
		q.Set("project_id", id)
	}
	if n, _ := fs.GetString("name"); n != "" {
		q.Set("name", n)
	}
	return q, nil
}

// projectField sets body["project_id"] from --project.
func projectField(ctx context.Context, c *apiClient, fs *pflag.FlagSet, body map[string]any) error {
	p, _ := fs.GetString("project")
	if p == "" {
		return nil
	}
	id, err := c.project(ctx, p)
	if err != nil {
		return err
	}
	body["project_id"] = id
	return nil
}

// str is a field's value as a string ("" for none).
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// adminState renders admin_state_up as the openstack CLI does.
func adminState(v any) string {
	if b, ok := v.(bool); ok && b {
		return "UP"
	}
	return "DOWN"
}
