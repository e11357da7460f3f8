#include "parallel/text_messages.h"

#include <cstring>

#include "runtime/error.h"

namespace neft::parallel {

namespace {

Tensor packed(const std::string& text) {
  std::vector<int32_t> words((text.size() + 3) / 4, 0);
  std::memcpy(words.data(), text.data(), text.size());
  return Tensor::from_ints(words, {int64_t(words.size())});
}

std::string unpacked(const Tensor& words, int32_t bytes) {
  return std::string(static_cast<const char*>(words.raw()), size_t(bytes));
}

}  // namespace

void send_text(const std::string& text, Communicator& comm, int peer) {
  comm.send(Tensor::from_ints({int32_t(text.size())}, {1}), peer);
  if (!text.empty()) comm.send(packed(text), peer);
}

std::string recv_text(Communicator& comm, int peer) {
  Tensor length = Tensor::empty({1}, DType::I32);
  comm.recv(length, peer);
  const int32_t bytes = length.to_ints().front();
  NEFT_CHECK(bytes >= 0, comm.name(), ": a text of ", bytes, " bytes from rank ", peer);
  Tensor words = Tensor::empty({(bytes + 3) / 4}, DType::I32);
  if (bytes > 0) comm.recv(words, peer);
  return unpacked(words, bytes);
}

std::vector<std::string> gather_text(const std::string& text, Communicator* comm, int root) {
  if (!comm || comm->size() == 1) return {text};
  if (comm->rank() != root) {
    send_text(text, *comm, root);
    return {};
  }
  std::vector<std::string> all(size_t(comm->size()));
  for (int r = 0; r < comm->size(); ++r) all[size_t(r)] = r == root ? text : recv_text(*comm, r);
  return all;
}

std::string broadcast_text(const std::string& text, Communicator* comm, int root) {
  if (!comm || comm->size() == 1) return text;
  Tensor length = Tensor::from_ints({int32_t(text.size())}, {1});
  comm->broadcast(length, root);
  const int32_t bytes = length.to_ints().front();
  Tensor words = comm->rank() == root ? packed(text) : Tensor::empty({(bytes + 3) / 4}, DType::I32);
  if (bytes > 0) comm->broadcast(words, root);
  return unpacked(words, bytes);
}

}  // namespace neft::parallel
