// A room of peers: the signaling client (src/runtime/signaling_client.h) driving one
// PeerConnection per remote peer, with one data channel each. See docs/signaling.md, "Room
// client".
//
// For every peer the signaling client discovers in the room:
// - caller (the smaller peer id, or the winner of y-webrtc glare): a PeerConnection is created,
//   it creates the channel (`channel_label`, `channel`), offers, and trickles its candidates
//   through the room;
// - callee: it waits for the offer, answers, trickles, and receives the channel (datachannel
//   event).
// Candidates that arrive before the remote description are held (bounded). A y-webrtc peer that
// wins glare after we offered makes us drop our connection attempt and answer its offer. A
// connection that fails, closes, or is not connected within `connect_timeout` is dropped and the
// peer is forgotten on the signaling side (RemovePeer re-announces us, so it can be found again).
// A signaling server going away does not touch established connections.
//
// Threading: the room runs on its own thread (signaling, and every decision about peers).
// `on_channel` runs on the connection's runtime thread for a received channel (so its handlers
// are set before the first message can arrive) and on the room's thread for a channel we created
// (before it can open). Other callbacks run on the room's thread. Callbacks must not block for
// long; they may call the room's methods and any PeerConnection/DataChannel method. Destroying
// the RoomClient (or Stop) closes every connection and waits for the room's thread.
#pragma once

#include <peerlink/peer_connection.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "src/runtime/signaling_client.h"

namespace peerlink::runtime {

struct RoomClientOptions {
  SignalingClientOptions signaling;  // servers, room, password / identity mode, bounds
  Configuration peer;                // every PeerConnection (ICE servers, bind addresses, ...)
  std::string channel_label = "peerlink";
  DataChannelInit channel;
  // Peers beyond this many live connections are ignored (and logged) until one goes away.
  size_t max_connections = 16;
  // From the first signal to "connected"; past it the attempt is dropped.
  Duration connect_timeout = Duration::Seconds(30);
  // Remote candidates held while the description has not arrived, per peer.
  size_t max_held_candidates = 64;
};

struct RoomPeerInfo {
  std::string peer_id;
  std::string verified_identity;  // identity mode: the identity that signed its offer/answer
  bool caller = false;            // we offered
};

struct RoomClientCallbacks {
  // One per connection attempt, with the channel to set handlers on (see the threading note).
  std::function<void(const RoomPeerInfo& peer, std::shared_ptr<DataChannel> channel)> on_channel;
  // The connection's state (room thread; "connected" once per connection).
  std::function<void(const RoomPeerInfo& peer, PeerConnectionState state)> on_state;
  // The connection to `peer_id` was dropped (failed, closed, timed out, or the peer left).
  std::function<void(const std::string& peer_id, std::string_view reason)> on_peer_gone;
  // A signaling server connection came up or went down.
  std::function<void(size_t server_index, bool connected, std::string_view reason)> on_signaling;
  // Signaling errors (identity verification failures, the peer limit).
  std::function<void(const signaling::ClientError& error)> on_error;
};

class RoomClient {
 public:
  // Without a runtime the room's connections share a private one-thread Runtime. A
  // `peer.certificate` left null is generated once and shared by every connection.
  RoomClient(RoomClientOptions options,
             RoomClientCallbacks callbacks,
             LogFn log = {},
             std::shared_ptr<Runtime> runtime = nullptr);
  ~RoomClient();  // Stop()
  RoomClient(const RoomClient&) = delete;
  RoomClient& operator=(const RoomClient&) = delete;

  const std::string& peer_id() const;
  void Start();
  // Closes every connection (gracefully, not waiting for the peers) and leaves the room. Blocks
  // until the room's thread has finished (at most ~10 s); callbacks never run after it returns.
  // Idempotent. From inside one of the room's callbacks it closes everything without waiting,
  // and the room's thread ends by itself.
  void Stop();
  // The connection to a peer (any thread; null if there is none). Stats, Close, ...
  std::shared_ptr<PeerConnection> connection(const std::string& peer_id) const;
  size_t connection_count() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace peerlink::runtime
