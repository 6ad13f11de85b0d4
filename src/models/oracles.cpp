#include "models/oracles.hpp"

namespace diffgen {
namespace {

// Calls f(begin, end, t) over runs of rows that share one time, so that the
// common case (all rows at one t) costs a single target evaluation.
template <class F>
void for_each_time_run(const Vector& t, F&& f) {
  Index b = 0;
  while (b < t.size()) {
    Index e = b + 1;
    while (e < t.size() && t[e] == t[b]) ++e;
    f(b, e, t[b]);
    b = e;
  }
}

}  // namespace

TargetScore::TargetScore(std::shared_ptr<const Target> target, std::shared_ptr<const Sde> sde, std::string name)
    : target_(std::move(target)), sde_(std::move(sde)), name_(std::move(name)) {}

void TargetScore::score(const Matrix& X, const Vector& t, Matrix& out) const {
  out.resize(X.rows(), X.cols());
  for_each_time_run(t, [&](Index b, Index e, double ti) {
    out.middleRows(b, e - b) = target_->score(X.middleRows(b, e - b), sde_->a(ti), sde_->s(ti));
  });
}

void TargetScore::divergence(const Matrix& X, const Vector& t, Vector& out) const {
  out.resize(X.rows());
  for_each_time_run(t, [&](Index b, Index e, double ti) {
    out.segment(b, e - b) = target_->score_divergence(X.middleRows(b, e - b), sde_->a(ti), sde_->s(ti));
  });
}

std::unique_ptr<TargetScore> make_population_oracle(std::shared_ptr<const Target> target,
                                                    std::shared_ptr<const Sde> sde) {
  return std::make_unique<TargetScore>(std::move(target), std::move(sde), "population-oracle");
}

std::unique_ptr<TargetScore> make_empirical_oracle(const Matrix& training_set, std::shared_ptr<const Sde> sde) {
  return std::make_unique<TargetScore>(std::make_shared<GaussianMixture>(GaussianMixture::empirical(training_set)),
                                       std::move(sde), "empirical-oracle");
}

}  // namespace diffgen
