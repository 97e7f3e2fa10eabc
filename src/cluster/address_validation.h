// address_validation.h — which member is proven to receive at which address, and the round-trip
// challenges that prove it (sans-I/O, internal to SwimCore).
//
// Why: a UDP source address is unauthenticated. A captured join replayed with a victim's
// address as its source would otherwise make every member send its whole table to the victim.
// So a reply to a packet whose source is not its sender's proven address may be at most as
// large as that packet (SwimCore enforces the byte cap); anything larger — a join reply, an
// anti-entropy answer — waits until the sender answers a Challenge sent to that source. Only the
// real member at that address can: the challenge is sealed and addressed to it.
//
// An address is proven when it is the sender's advertised address in our table, a seed we were
// configured with (we chose to talk to it), or answered a challenge within kProofLifetime.
// Bounds: at most `capacity` proofs and `capacity` open challenges; the oldest go first. One
// challenge per sender per `rechallenge_after` (a flood of packets from an unproven source costs
// one challenge, not one each).
//
// Example:
//   if (!validation.proven(sender, from, now)) {
//     if (auto token = validation.challenge(sender, from, {.join_reply = true}, rng.next(), now))
//       send(from, Challenge{*token});
//   }
//   ... later, on ChallengeResponse{token} from `from`:
//   if (auto owed = validation.answer(sender, from, token, now); owed && owed->join_reply) send_state(...);
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "rpcnet/address.h"
#include "rpcnet/cluster/member.h"

namespace rpcnet::cluster {

class AddressValidation {
 public:
  static constexpr Duration kProofLifetime = std::chrono::minutes(10);

  // What the sender asked for that waits on the proof.
  struct Owed {
    bool join_reply = false;  // our whole table, as a join reply
    bool sync = false;        // an anti-entropy exchange
  };

  AddressValidation(std::size_t capacity, Duration rechallenge_after)
      : capacity_(capacity == 0 ? 1 : capacity), rechallenge_after_(rechallenge_after) {}

  bool proven(std::string_view sender, const SocketAddress& address, Time now) const;

  // Records what `sender` is owed once `address` is proven; returns the token to send in a
  // Challenge, or nullopt when one went to this sender recently (what is owed is merged in).
  std::optional<std::uint64_t> challenge(std::string_view sender, const SocketAddress& address, Owed owed,
                                         std::uint64_t fresh_token, Time now);

  // A ChallengeResponse: if it matches the open challenge of `sender` at `address`, the address
  // is proven and what was owed is returned.
  std::optional<Owed> answer(std::string_view sender, const SocketAddress& address, std::uint64_t token, Time now);

  std::size_t open_challenges() const { return open_.size(); }

 private:
  struct Proof {
    SocketAddress address;
    Time until{};
  };
  struct Open {
    SocketAddress address;
    std::uint64_t token = 0;
    Owed owed;
    Time sent{};
  };
  template <class Map>
  void make_room(Map& map, Time Map::mapped_type::*stamp);

  std::size_t capacity_;
  Duration rechallenge_after_;
  std::map<std::string, Proof, std::less<>> proofs_;
  std::map<std::string, Open, std::less<>> open_;
};

}  // namespace rpcnet::cluster
