// How the processes of one sweep talk: rank 0 decides what is left to run and
// writes every result; the other ranks compute their share and send it back.
// A single process is a communicator of size 1; the MPI implementation lives
// in the CLI (src/cli/mpi_communicator.cpp), so the library and its tests do
// not depend on MPI.
#pragma once

#include <string>
#include <vector>

namespace diffgen {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool is_root() const { return rank() == 0; }
  // Rank 0's `text` on every rank (collective: every rank calls it).
  virtual std::string broadcast(const std::string& text) = 0;
  // Every rank's `text` on rank 0, in rank order; the other ranks get an
  // empty vector (collective).
  virtual std::vector<std::string> gather(const std::string& text) = 0;
};

// One process: broadcast returns its argument, gather a vector of it.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string broadcast(const std::string& text) override { return text; }
  std::vector<std::string> gather(const std::string& text) override { return {text}; }
};

}  // namespace diffgen
