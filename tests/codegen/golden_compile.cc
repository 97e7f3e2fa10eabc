// The golden generated code must compile, warning-free, against rpcnet: every umbrella header of
// tests/golden/expected, whose includes resolve from that tree's root alone.
#include <string_view>

#include "alpha/alpha.hpp"
#include "http_beta/http_beta.hpp"
#include "inventory/inventory.hpp"
#include "showcase_service/showcase_service.hpp"

static_assert(a::b::v1::ShowcaseServiceServer::kServiceName == std::string_view("a.b.v1.ShowcaseService"));
static_assert(AlphaServer::kServiceName == std::string_view("Alpha"));
static_assert(HTTPBetaServer::kServiceName == std::string_view("HTTPBeta"));
static_assert(inventory::v2::InventoryServer::kServiceName == std::string_view("inventory.v2.Inventory"));
