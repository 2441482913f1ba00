package policy

// Neutron's default policy for the resources spinel serves: the
// secure-RBAC ("new") defaults in force with [oslo_policy]
// enforce_new_defaults, as neutron/conf/policies/*.py had them at the end
// of 2023 (openstack/neutron 5b728c55, between 2023.2 and 2024.1), with
// one deviation, marked below: create_subnet keeps the 2023.1 alternative
// "role:member and project_id:%(project_id)s", so that a project may add
// its own subnets to a network shared with it, as Neutron 21 lets it
// (test/integration TestSubnetOnOthersSharedNetwork_Neutron). Whether the
// network may be used at all is decided outside the rules, as Neutron's
// OwnershipValidationHook does: a non-admin may create ports and subnets
// only on networks it owns or that are shared with it.
//
// The building blocks, as in neutron/conf/policies/base.py.
const (
	ruleAdmin           = "rule:admin_only"
	ruleService         = "rule:service_api"
	projectMember       = "role:member and project_id:%(project_id)s"
	projectReader       = "role:reader and project_id:%(project_id)s"
	adminOrMember       = "(" + ruleAdmin + ") or (" + projectMember + ")"
	adminOrReader       = "(" + ruleAdmin + ") or (" + projectReader + ")"
	netOwnerMember      = "role:member and rule:network_owner"
	netOwnerReader      = "role:reader and rule:network_owner"
	adminOrNetOwnerMemb = "(" + ruleAdmin + ") or (" + netOwnerMember + ")"
	adminOrService      = "(" + ruleAdmin + ") or (" + ruleService + ")"
	ruleAdvsvc          = "rule:context_is_advsvc"
	targetNotWildcard   = "(not field:rbac_policy:target_tenant=* and not field:rbac_policy:target_project=*)"
)

// defaults lists every default rule in the order of Neutron's files.
var defaults = [][2]string{
	// base.py
	{"context_is_admin", "role:admin"},
	{"service_api", "role:service"},
	{"owner", "tenant_id:%(tenant_id)s"},
	{"admin_or_owner", "rule:context_is_admin or rule:owner"},
	{"context_is_advsvc", "role:advsvc"},
	{"admin_or_network_owner", "rule:context_is_admin or tenant_id:%(network:tenant_id)s"},
	{"admin_owner_or_network_owner", "rule:owner or rule:admin_or_network_owner"},
	{"network_owner", "tenant_id:%(network:tenant_id)s"},
	{"admin_only", "rule:context_is_admin"},
	{"regular_user", ""},
	{"shared", "field:networks:shared=True"},
	{"default", "rule:admin_or_owner"},
	{"admin_or_ext_parent_owner", "rule:context_is_admin or tenant_id:%(ext_parent:tenant_id)s"},
	{"ext_parent_owner", "tenant_id:%(ext_parent:tenant_id)s"},
	{"sg_owner", "tenant_id:%(security_group:tenant_id)s"},

	// network.py
	{"external", "field:networks:router:external=True"},
	{"create_network", adminOrMember},
	{"create_network:shared", ruleAdmin},
	{"create_network:router:external", ruleAdmin},
	{"create_network:is_default", ruleAdmin},
	{"create_network:port_security_enabled", adminOrMember},
	{"create_network:segments", ruleAdmin},
	{"create_network:provider:network_type", ruleAdmin},
	{"create_network:provider:physical_network", ruleAdmin},
	{"create_network:provider:segmentation_id", ruleAdmin},
	{"get_network", adminOrReader + " or " + ruleService + " or rule:shared or rule:external or " + ruleAdvsvc},
	{"get_network:segments", ruleAdmin},
	{"get_network:provider:network_type", ruleAdmin},
	{"get_network:provider:physical_network", ruleAdmin},
	{"get_network:provider:segmentation_id", ruleAdmin},
	{"get_networks_tags", adminOrReader + " or rule:shared or rule:external or " + ruleAdvsvc},
	{"update_network", adminOrMember},
	{"update_network:segments", ruleAdmin},
	{"update_network:shared", ruleAdmin},
	{"update_network:provider:network_type", ruleAdmin},
	{"update_network:provider:physical_network", ruleAdmin},
	{"update_network:provider:segmentation_id", ruleAdmin},
	{"update_network:router:external", ruleAdmin},
	{"update_network:is_default", ruleAdmin},
	{"update_network:port_security_enabled", adminOrMember},
	{"update_networks_tags", adminOrMember},
	{"delete_network", adminOrMember},
	{"delete_networks_tags", adminOrMember},

	// subnet.py
	{"create_subnet", adminOrNetOwnerMemb + " or " + projectMember}, // deviation: see above
	{"create_subnet:segment_id", ruleAdmin},
	{"create_subnet:service_types", ruleAdmin},
	{"get_subnet", adminOrNetOwnerMemb + " or " + projectReader + " or rule:shared"},
	{"get_subnet:segment_id", ruleAdmin},
	{"get_subnets_tags", adminOrNetOwnerMemb + " or " + projectReader + " or rule:shared"},
	{"update_subnet", adminOrNetOwnerMemb + " or " + projectMember},
	{"update_subnet:segment_id", ruleAdmin},
	{"update_subnet:service_types", ruleAdmin},
	{"update_subnets_tags", adminOrNetOwnerMemb + " or " + projectMember},
	{"delete_subnet", adminOrNetOwnerMemb + " or " + projectMember},
	{"delete_subnets_tags", adminOrNetOwnerMemb + " or " + projectMember},

	// port.py
	{"network_device", "field:port:device_owner=~^network:"},
	{"admin_or_data_plane_int", "rule:context_is_admin or role:data_plane_integrator"},
	{"create_port", adminOrMember},
	{"create_port:device_owner", "not rule:network_device or " + adminOrService + " or " + netOwnerMember},
	{"create_port:mac_address", adminOrService + " or " + netOwnerMember},
	{"create_port:fixed_ips", adminOrService + " or " + netOwnerMember + " or rule:shared"},
	{"create_port:fixed_ips:ip_address", adminOrService + " or " + netOwnerMember},
	{"create_port:fixed_ips:subnet_id", adminOrService + " or " + netOwnerMember + " or rule:shared"},
	{"create_port:port_security_enabled", adminOrService + " or " + netOwnerMember},
	{"create_port:binding:host_id", ruleAdmin},
	{"create_port:binding:profile", ruleAdmin},
	{"create_port:binding:vnic_type", adminOrMember},
	{"create_port:allowed_address_pairs", adminOrNetOwnerMemb},
	{"create_port:allowed_address_pairs:mac_address", adminOrNetOwnerMemb},
	{"create_port:allowed_address_pairs:ip_address", adminOrNetOwnerMemb},
	{"create_port:hints", ruleAdmin},
	{"get_port", adminOrService + " or " + netOwnerReader + " or " + projectReader},
	{"get_port:binding:vif_type", ruleAdmin},
	{"get_port:binding:vif_details", ruleAdmin},
	{"get_port:binding:host_id", ruleAdmin},
	{"get_port:binding:profile", ruleAdmin},
	{"get_port:resource_request", ruleAdmin},
	{"get_port:hints", ruleAdmin},
	{"get_ports_tags", ruleAdvsvc + " or (" + ruleAdmin + ") or (" + netOwnerReader + ") or " + projectReader},
	{"update_port", adminOrService + " or " + projectMember},
	{"update_port:device_owner", "not rule:network_device or " + adminOrService + " or " + netOwnerMember},
	{"update_port:mac_address", adminOrService},
	{"update_port:fixed_ips", adminOrService + " or " + netOwnerMember},
	{"update_port:fixed_ips:ip_address", adminOrService + " or " + netOwnerMember},
	{"update_port:fixed_ips:subnet_id", adminOrService + " or " + netOwnerMember + " or rule:shared"},
	{"update_port:port_security_enabled", adminOrService + " or " + netOwnerMember},
	{"update_port:binding:host_id", ruleAdmin},
	{"update_port:binding:profile", ruleAdmin},
	{"update_port:binding:vnic_type", adminOrService + " or " + projectMember},
	{"update_port:allowed_address_pairs", adminOrNetOwnerMemb},
	{"update_port:allowed_address_pairs:mac_address", adminOrNetOwnerMemb},
	{"update_port:allowed_address_pairs:ip_address", adminOrNetOwnerMemb},
	{"update_port:data_plane_status", "rule:admin_only or role:data_plane_integrator"},
	{"update_port:hints", ruleAdmin},
	{"update_ports_tags", adminOrMember + " or " + ruleAdvsvc},
	{"delete_port", adminOrService + " or " + netOwnerMember + " or " + projectMember},
	{"delete_ports_tags", ruleAdvsvc + " or " + projectMember + " or " + adminOrNetOwnerMemb},

	// security_group.py
	{"admin_or_sg_owner", "rule:context_is_admin or tenant_id:%(security_group:tenant_id)s"},
	{"admin_owner_or_sg_owner", "rule:owner or rule:admin_or_sg_owner"},
	{"shared_security_group", "field:security_groups:shared=True"},
	{"rule_default_sg", "field:security_group_rules:belongs_to_default_sg=True"},
	{"create_security_group", adminOrMember},
	{"get_security_group", adminOrReader + " or rule:shared_security_group"},
	{"get_security_groups_tags", adminOrReader + " or rule:shared_security_group"},
	{"update_security_group", adminOrMember},
	{"update_security_groups_tags", adminOrMember},
	{"delete_security_group", adminOrMember},
	{"delete_security_groups_tags", adminOrMember},
	{"create_security_group_rule", adminOrMember},
	{"get_security_group_rule", adminOrReader + " or rule:sg_owner"},
	{"delete_security_group_rule", adminOrMember},

	// router.py
	{"create_router", adminOrMember},
	{"create_router:distributed", ruleAdmin},
	{"create_router:ha", ruleAdmin},
	{"create_router:external_gateway_info", adminOrMember},
	{"create_router:external_gateway_info:network_id", adminOrMember},
	{"create_router:external_gateway_info:enable_snat", ruleAdmin},
	{"create_router:external_gateway_info:external_fixed_ips", ruleAdmin},
	{"create_router:enable_default_route_bfd", ruleAdmin},
	{"create_router:enable_default_route_ecmp", ruleAdmin},
	{"get_router", adminOrReader},
	{"get_router:distributed", ruleAdmin},
	{"get_router:ha", ruleAdmin},
	{"get_routers_tags", adminOrReader},
	{"update_router", adminOrMember},
	{"update_router:distributed", ruleAdmin},
	{"update_router:ha", ruleAdmin},
	{"update_router:external_gateway_info", adminOrMember},
	{"update_router:external_gateway_info:network_id", adminOrMember},
	{"update_router:external_gateway_info:enable_snat", ruleAdmin},
	{"update_router:external_gateway_info:external_fixed_ips", ruleAdmin},
	{"update_router:enable_default_route_bfd", ruleAdmin},
	{"update_router:enable_default_route_ecmp", ruleAdmin},
	{"update_routers_tags", adminOrMember},
	{"delete_router", adminOrMember},
	{"delete_routers_tags", adminOrMember},
	{"add_router_interface", adminOrMember},
	{"remove_router_interface", adminOrMember},
	{"add_extraroutes", adminOrMember},
	{"remove_extraroutes", adminOrMember},

	// floatingip.py
	{"create_floatingip", adminOrMember},
	{"create_floatingip:floating_ip_address", ruleAdmin},
	{"get_floatingip", adminOrReader},
	{"get_floatingips_tags", adminOrReader},
	{"update_floatingip", adminOrMember},
	{"update_floatingips_tags", adminOrMember},
	{"delete_floatingip", adminOrMember},
	{"delete_floatingips_tags", adminOrMember},

	// quotas.py
	{"get_quota", ruleAdmin},
	{"update_quota", ruleAdmin},
	{"delete_quota", ruleAdmin},

	// rbac.py
	{"restrict_wildcard", targetNotWildcard + " or " + ruleAdmin},
	{"create_rbac_policy", adminOrMember},
	{"create_rbac_policy:target_tenant", ruleAdmin + " or " + targetNotWildcard},
	{"update_rbac_policy", adminOrMember},
	{"update_rbac_policy:target_tenant", ruleAdmin + " or " + targetNotWildcard},
	{"get_rbac_policy", adminOrReader},
	{"delete_rbac_policy", adminOrMember},

	// flavor.py
	{"create_flavor", ruleAdmin},
	{"get_flavor", "role:reader"},
	{"update_flavor", ruleAdmin},
	{"delete_flavor", ruleAdmin},
	{"create_service_profile", ruleAdmin},
	{"get_service_profile", ruleAdmin},
	{"update_service_profile", ruleAdmin},
	{"delete_service_profile", ruleAdmin},
	{"get_flavor_service_profile", adminOrReader},
	{"create_flavor_service_profile", ruleAdmin},
	{"delete_flavor_service_profile", ruleAdmin},

	// agent.py (the agents API; scheduler sub-resources are not served)
	{"get_agent", ruleAdmin},
	{"update_agent", ruleAdmin},
	{"delete_agent", ruleAdmin},

	// service_type.py
	{"get_service_provider", "role:reader"},
}

func defaultSources() map[string]source {
	out := make(map[string]source, len(defaults))
	for _, d := range defaults {
		out[d[0]] = source{text: d[1], where: "default"}
	}
	return out
}

// Defaults returns the built-in rules as name/rule pairs, in the order of
// Neutron's policy files.
func Defaults() [][2]string {
	return append([][2]string(nil), defaults...)
}
