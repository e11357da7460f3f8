// Text between ranks: headers, JSON descriptions of what a rank holds. Texts go through host
// memory as i32 tensors (four bytes to an element, the byte count first), so every transfer
// takes the same path whatever the device, and a null communicator (one process) is the
// identity.
#pragma once
#include <string>
#include <vector>

#include "parallel/communicator.h"

namespace neft::parallel {

void send_text(const std::string& text, Communicator& comm, int peer);
std::string recv_text(Communicator& comm, int peer);

// Every rank's text on `root`, in rank order (the others get an empty list).
std::vector<std::string> gather_text(const std::string& text, Communicator* comm, int root = 0);
// `root`'s text on every rank.
std::string broadcast_text(const std::string& text, Communicator* comm, int root = 0);

}  // namespace neft::parallel
