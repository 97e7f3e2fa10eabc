#include "cluster/address_validation.h"

#include <algorithm>

namespace rpcnet::cluster {

template <class Map>
void AddressValidation::make_room(Map& map, Time Map::mapped_type::*stamp) {
  if (map.size() < capacity_) return;
  const auto oldest = std::min_element(map.begin(), map.end(), [&](const auto& a, const auto& b) {
    return a.second.*stamp < b.second.*stamp;
  });
  map.erase(oldest);
}

bool AddressValidation::proven(std::string_view sender, const SocketAddress& address, Time now) const {
  const auto it = proofs_.find(sender);
  return it != proofs_.end() && it->second.address == address && now < it->second.until;
}

std::optional<std::uint64_t> AddressValidation::challenge(std::string_view sender, const SocketAddress& address,
                                                          Owed owed, std::uint64_t fresh_token, Time now) {
  auto it = open_.find(sender);
  if (it != open_.end() && it->second.address == address && now - it->second.sent < rechallenge_after_) {
    it->second.owed.join_reply = it->second.owed.join_reply || owed.join_reply;
    it->second.owed.sync = it->second.owed.sync || owed.sync;
    return std::nullopt;
  }
  if (it == open_.end()) {
    make_room(open_, &Open::sent);
    it = open_.emplace(std::string(sender), Open{}).first;
  }
  it->second = Open{address, fresh_token, owed, now};
  return fresh_token;
}

std::optional<AddressValidation::Owed> AddressValidation::answer(std::string_view sender, const SocketAddress& address,
                                                                 std::uint64_t token, Time now) {
  const auto it = open_.find(sender);
  if (it == open_.end() || it->second.address != address || it->second.token != token) return std::nullopt;
  const Owed owed = it->second.owed;
  open_.erase(it);
  auto proof = proofs_.find(sender);
  if (proof == proofs_.end()) {
    make_room(proofs_, &Proof::until);
    proof = proofs_.emplace(std::string(sender), Proof{}).first;
  }
  proof->second = Proof{address, now + kProofLifetime};
  return owed;
}

}  // namespace rpcnet::cluster
