package integration

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/spinel-net/spinel/internal/server"
	"github.com/spinel-net/spinel/internal/testserver"
)

// withVLANRanges configures tenant VLAN ranges per physical network.
func withVLANRanges(r map[string][2]int) testserver.Option {
	return func(c *server.Config) { c.Service.VLANRanges = r }
}

func createProvider(t *testing.T, c *gophercloud.ServiceClient, name, typ, phys string, seg *int) (netView, error) {
	t.Helper()
	r := networks.Create(ctx(t), c, providerOpts{
		CreateOptsBuilder: networks.CreateOpts{Name: name},
		NetworkType:       typ, PhysicalNetwork: phys, SegmentationID: seg,
	})
	if r.Err != nil {
		return netView{}, r.Err
	}
	return extractNet(t, r), nil
}

func mustProvider(t *testing.T, c *gophercloud.ServiceClient, name, typ, phys string, seg *int) netView {
	t.Helper()
	n, err := createProvider(t, c, name, typ, phys, seg)
	if err != nil {
		t.Fatalf("creating %s network %q (physnet %q, seg %v): %v", typ, name, phys, seg, err)
	}
	return n
}

// TestProviderFlat: a flat network needs a physical network, has no
// segmentation id, and takes its physical network exclusively until deleted.
func TestProviderFlat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	n := mustProvider(t, e.admin, "flat", "flat", "physflat", nil)
	if n.NetworkType == nil || *n.NetworkType != "flat" || n.PhysicalNetwork == nil || *n.PhysicalNetwork != "physflat" || n.SegmentationID != nil {
		t.Fatalf("flat network attributes: type %v phys %v seg %v", n.NetworkType, n.PhysicalNetwork, n.SegmentationID)
	}
	if n.MTU != 1500 || !n.L2Adjacency {
		t.Errorf("flat network: mtu %d l2_adjacency %v, want 1500 true", n.MTU, n.L2Adjacency)
	}
	// Show returns the provider attributes to the admin.
	if s := getNet(t, e.admin, n.ID); s.NetworkType == nil || *s.NetworkType != "flat" || s.PhysicalNetwork == nil || *s.PhysicalNetwork != "physflat" {
		t.Fatalf("show of flat network: %+v", s)
	}

	_, err := createProvider(t, e.admin, "flat2", "flat", "physflat", nil)
	expectGCError(t, err, http.StatusConflict, "FlatNetworkInUse")

	// neutron/plugins/ml2/drivers/type_flat.py:79-95 (InvalidInput).
	_, err = createProvider(t, e.admin, "nophys", "flat", "", nil)
	expectGCError(t, err, http.StatusBadRequest, "InvalidInput")
	_, err = createProvider(t, e.admin, "withseg", "flat", "physother", ptr(5))
	expectGCError(t, err, http.StatusBadRequest, "InvalidInput")

	// Deleting the network frees the physical network.
	if err := networks.Delete(ctx(t), e.admin, n.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	mustProvider(t, e.admin, "flat-again", "flat", "physflat", nil)
}

// TestProviderVLAN: VLAN networks need a physical network; ids are 1-4094,
// unique per physical network, and allocated from the tenant range when
// not given.
func TestProviderVLAN(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withVLANRanges(map[string][2]int{"physnet1": {100, 102}}))

	// A segmentation id without a physical network is refused
	// (neutron/plugins/ml2/drivers/type_vlan.py:229-232).
	_, err := createProvider(t, e.admin, "nophys", "vlan", "", ptr(100))
	expectGCError(t, err, http.StatusBadRequest, "InvalidInput")

	n := mustProvider(t, e.admin, "v100", "vlan", "physnet1", ptr(100))
	if n.SegmentationID == nil || *n.SegmentationID != 100 || *n.PhysicalNetwork != "physnet1" || *n.NetworkType != "vlan" {
		t.Fatalf("vlan network: %+v", n)
	}
	if n.MTU != 1500 {
		t.Errorf("vlan mtu %d, want 1500", n.MTU)
	}
	_, err = createProvider(t, e.admin, "dup", "vlan", "physnet1", ptr(100))
	expectGCError(t, err, http.StatusConflict, "VlanIdInUse")

	for _, bad := range []int{0, 4095, -1} {
		_, err = createProvider(t, e.admin, "bad", "vlan", "physnet1", ptr(bad))
		expectGCError(t, err, http.StatusBadRequest, "InvalidInput") // type_vlan.py:222-228
	}

	// Allocation from the range skips the id taken explicitly.
	a := mustProvider(t, e.admin, "auto1", "vlan", "physnet1", nil)
	b := mustProvider(t, e.admin, "auto2", "vlan", "physnet1", nil)
	got := map[int]bool{100: true}
	for _, x := range []netView{a, b} {
		if x.SegmentationID == nil || *x.SegmentationID < 100 || *x.SegmentationID > 102 || got[*x.SegmentationID] {
			t.Fatalf("allocated vlan %v, want a free id in 100-102 (taken: %v)", x.SegmentationID, got)
		}
		got[*x.SegmentationID] = true
	}
	// The range is exhausted now.
	_, err = createProvider(t, e.admin, "auto3", "vlan", "physnet1", nil)
	expectGCError(t, err, http.StatusServiceUnavailable, "NoNetworkAvailable")

	// Deleting frees the id.
	if err := networks.Delete(ctx(t), e.admin, n.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if again := mustProvider(t, e.admin, "v100-again", "vlan", "physnet1", nil); *again.SegmentationID != 100 {
		t.Fatalf("after freeing vlan 100 allocation gave %d", *again.SegmentationID)
	}
}

// TestProviderGeneve: geneve networks get a segmentation id automatically;
// no two networks ever share one, even when created concurrently; an
// explicit id already in use is 409 TunnelIdInUse.
func TestProviderGeneve(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	explicit := mustProvider(t, e.admin, "g1", "geneve", "", ptr(1))
	if explicit.SegmentationID == nil || *explicit.SegmentationID != 1 || explicit.PhysicalNetwork != nil {
		t.Fatalf("explicit geneve network: seg %v phys %v", explicit.SegmentationID, explicit.PhysicalNetwork)
	}
	if explicit.MTU >= 1500 || explicit.MTU < 1280 {
		t.Errorf("geneve mtu %d: want the physical MTU minus the encapsulation overhead", explicit.MTU)
	}
	_, err := createProvider(t, e.admin, "dup", "geneve", "", ptr(1))
	expectGCError(t, err, http.StatusConflict, "TunnelIdInUse")

	a := mustProvider(t, e.admin, "auto-a", "geneve", "", nil)
	b := mustProvider(t, e.admin, "auto-b", "geneve", "", nil)
	if a.SegmentationID == nil || b.SegmentationID == nil {
		t.Fatalf("geneve networks without segmentation id: %v %v", a.SegmentationID, b.SegmentationID)
	}
	seen := map[int]string{1: explicit.ID}
	for _, n := range []netView{a, b} {
		if other, dup := seen[*n.SegmentationID]; dup {
			t.Fatalf("segmentation id %d given to %s and %s", *n.SegmentationID, other, n.ID)
		}
		seen[*n.SegmentationID] = n.ID
		if *n.NetworkType != "geneve" || n.PhysicalNetwork != nil {
			t.Fatalf("auto geneve network: %+v", n)
		}
	}

	// Concurrent creates never share an id either.
	const parallel = 12
	var wg sync.WaitGroup
	results := make([]netView, parallel)
	errs := make([]error, parallel)
	for i := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := networks.Create(ctx(t), e.admin, providerOpts{
				CreateOptsBuilder: networks.CreateOpts{Name: fmt.Sprintf("c%d", i)}, NetworkType: "geneve",
			})
			if errs[i] = r.Err; r.Err == nil {
				errs[i] = r.ExtractInto(&results[i])
			}
		}()
	}
	wg.Wait()
	for i := range parallel {
		if errs[i] != nil {
			t.Fatalf("concurrent create %d: %v", i, errs[i])
		}
		n := results[i]
		if n.SegmentationID == nil {
			t.Fatalf("concurrent create %d: no segmentation id", i)
		}
		if other, dup := seen[*n.SegmentationID]; dup {
			t.Fatalf("segmentation id %d given to %s and %s", *n.SegmentationID, other, n.ID)
		}
		seen[*n.SegmentationID] = n.ID
	}
	// The list agrees with what the creates returned.
	listed := map[int]string{}
	for _, n := range listNets(t, e.admin, nil) {
		if n.SegmentationID == nil {
			t.Fatalf("listed geneve network %s without segmentation id", n.ID)
		}
		if other, dup := listed[*n.SegmentationID]; dup {
			t.Fatalf("listed networks %s and %s share segmentation id %d", other, n.ID, *n.SegmentationID)
		}
		listed[*n.SegmentationID] = n.ID
	}
	if len(listed) != len(seen) {
		t.Fatalf("%d geneve networks listed, %d created", len(listed), len(seen))
	}

	// A physical network makes no sense for an overlay network.
	// (neutron/plugins/ml2/drivers/type_tunnel.py:229-233).
	_, err = createProvider(t, e.admin, "phys", "geneve", "physnet1", nil)
	expectGCError(t, err, http.StatusBadRequest, "InvalidInput")
	// Nor does an unknown network type.
	_, err = createProvider(t, e.admin, "bogus", "bogus", "", nil)
	expectGCError(t, err, http.StatusBadRequest, "InvalidInput")

	// Deleting frees the id for an explicit request.
	if err := networks.Delete(ctx(t), e.admin, explicit.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	mustProvider(t, e.admin, "g1-again", "geneve", "", ptr(1))
}

// TestProviderVLANPartialSegmentAllocates_Neutron: a VLAN network given
// neither a physical network nor a segmentation id is a partial segment;
// Neutron allocates a free VLAN from any physical network's tenant range
// instead of refusing it.
//
// Neutron: neutron/plugins/ml2/drivers/type_vlan.py:210-232
// (is_partial_segment; validate_provider_segment raises only when a
// segmentation_id is given without a physical_network) and :241-258
// (reserve_provider_segment allocates a partially specified segment).
func TestProviderVLANPartialSegmentAllocates_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withVLANRanges(map[string][2]int{"physnet1": {200, 209}}))
	n := mustProvider(t, e.admin, "partial", "vlan", "", nil)
	if n.PhysicalNetwork == nil || *n.PhysicalNetwork != "physnet1" || n.SegmentationID == nil ||
		*n.SegmentationID < 200 || *n.SegmentationID > 209 {
		t.Fatalf("partial vlan segment: phys %v seg %v, want physnet1 and an id in 200-209", n.PhysicalNetwork, n.SegmentationID)
	}
}

// TestProviderVLANUnknownPhysnet_Neutron: a VLAN network on a physical
// network the server does not know is refused with 400 InvalidInput.
//
// Neutron: neutron/plugins/ml2/drivers/type_vlan.py:217-221
// ("physical_network '%s' unknown for VLAN provider network").
func TestProviderVLANUnknownPhysnet_Neutron(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withVLANRanges(map[string][2]int{"physnet1": {200, 209}}))
	_, err := createProvider(t, e.admin, "unknown", "vlan", "nosuchphysnet", ptr(10))
	expectGCError(t, err, http.StatusBadRequest, "InvalidInput")
}
