#include "models/reference_mlp.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "core/error.hpp"
#include "models/vector_math.hpp"

namespace diffgen {
namespace {

// Rows per block in score() and divergence(): the workspace stays in cache.
constexpr Index kBlockRows = 256;

using ConstRowMap = Eigen::Map<const RowVector>;

// d/du [u·sigmoid(u)] = σ + u σ (1 − σ) = σ (1 + u (1 − σ)).
inline double swish_derivative(double u, double sig) {
  return sig * (1.0 + u * (1.0 - sig));
}

ReferenceMlp::Layout make_layout(Index d, Index H, Index E) {
  ReferenceMlp::Layout l{};
  l.w_x = 0;
  l.b_x = l.w_x + H * d;
  l.w_e = l.b_x + H;
  l.b_e = l.w_e + H * E;
  l.w_o = l.b_e + H;
  l.b_o = l.w_o + d * H;
  l.size = l.b_o + d;
  return l;
}

// PyTorch's nn.Linear init: weight and bias ~ U(−1/√fan_in, +1/√fan_in)
// (kaiming_uniform with a = √5 reduces to this bound for the weight).
void init_linear(double* weight, Index weight_size, double* bias, Index bias_size, Index fan_in, Rng& rng) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  for (Index i = 0; i < weight_size; ++i) weight[i] = rng.uniform(-bound, bound);
  for (Index i = 0; i < bias_size; ++i) bias[i] = rng.uniform(-bound, bound);
}

}  // namespace

double ReferenceMlpOptions::output_constant() const {
  if (scaling == OutputScaling::Fixed) return output_scale;
  return output_scale * std::sqrt(16.0 / static_cast<double>(hidden));
}

std::string ReferenceMlpOptions::validate() const {
  if (hidden < 1) return fmt::format("hidden = {} must be >= 1", hidden);
  if (embed_dim < 2 || embed_dim % 2 != 0) return fmt::format("embed_dim = {} must be even and >= 2", embed_dim);
  if (!(embed_scale >= 0.0) || !std::isfinite(embed_scale))
    return fmt::format("embed_scale = {} must be finite and >= 0", embed_scale);
  if (!(output_scale > 0.0) || !std::isfinite(output_scale))
    return fmt::format("output_scale = {} must be finite and > 0", output_scale);
  return {};
}

namespace {

const ReferenceMlpOptions& validated(Index d, const ReferenceMlpOptions& options) {
  if (auto err = options.validate(); !err.empty()) throw ConfigError(err);
  if (d < 1) throw ConfigError(fmt::format("dimension d = {} must be >= 1", d));
  return options;
}

}  // namespace

ReferenceMlp::ReferenceMlp(Index d, const ReferenceMlpOptions& options, std::shared_ptr<const Sde> sde, Rng& rng)
    : d_(d),
      options_(validated(d, options)),
      output_constant_(options_.output_constant()),
      sde_(std::move(sde)),
      embedding_(options.embed_dim, options.embed_scale, rng),
      layout_(make_layout(d, options.hidden, options.embed_dim)),
      theta_(layout_.size) {
  if (!sde_) throw std::invalid_argument("ReferenceMlp needs an SDE (got null)");
  const Index H = options_.hidden, E = options_.embed_dim;
  double* p = theta_.data();
  init_linear(p + layout_.w_x, H * d, p + layout_.b_x, H, d, rng);
  init_linear(p + layout_.w_e, H * E, p + layout_.b_e, H, E, rng);
  init_linear(p + layout_.w_o, d * H, p + layout_.b_o, d, H, rng);
}

std::unique_ptr<TrainableScoreModel> ReferenceMlp::clone() const {
  return std::make_unique<ReferenceMlp>(*this);
}

void ReferenceMlp::Workspace::resize(Index B, Index d, Index H, Index E) {
  if (S.rows() == B && S.cols() == d && h.cols() == H && e.cols() == E) return;
  e.resize(B, E);
  h.resize(B, H);
  sig.resize(B, H);
  act.resize(B, H);
  k.resize(B);
  S.resize(B, d);
  dS.resize(B, d);
  g_h.resize(B, H);
}

void ReferenceMlp::check_input(const Matrix& X, const Vector& t) const {
  if (X.cols() != d_)
    throw std::invalid_argument(
        fmt::format("reference-mlp: input has {} columns, model dimension is {}", X.cols(), d_));
  if (t.size() != X.rows())
    throw std::invalid_argument(fmt::format("reference-mlp: {} times for {} points", t.size(), X.rows()));
}

void ReferenceMlp::prepare(Workspace& ws) const {
  const Index d = d_, H = options_.hidden, E = embedding_.dim();
  const double* p = theta_.data();
  // The input weights transposed to [in][out], so that every inner loop below
  // runs over contiguous hidden units (and vectorizes). Resizing to the same
  // size allocates nothing.
  ws.w_xT.resize(d * H);
  ws.w_eT.resize(E * H);
  ws.bias.resize(H);
  ws.g_w_xT.resize(d * H);
  ws.g_w_eT.resize(E * H);
  for (Index j = 0; j < H; ++j) {
    for (Index i = 0; i < d; ++i) ws.w_xT[i * H + j] = p[layout_.w_x + j * d + i];
    for (Index q = 0; q < E; ++q) ws.w_eT[q * H + j] = p[layout_.w_e + j * E + q];
    ws.bias[j] = p[layout_.b_x + j] + p[layout_.b_e + j];
  }
}

void ReferenceMlp::forward(const Matrix& X, const Vector& t, Index begin, Workspace& ws) const {
  const Index n = ws.S.rows(), d = d_, H = options_.hidden, E = embedding_.dim();
  const double* w_o = theta_.data() + layout_.w_o;
  const double* b_o = theta_.data() + layout_.b_o;
  // Time enters through the frozen Fourier features and the output scale c / s(t).
  embedding_.embed(t.data() + begin, n, ws.e.data());
  for (Index r = 0; r < n; ++r) ws.k[r] = output_constant_ / sde_->s(t[begin + r]);
  // h = Linear(d → H)(x) + Linear(E → H)(e(t)).
  for (Index r = 0; r < n; ++r)
    linear_combination(
        ws.bias.data(),
        {{X.data() + (begin + r) * d, 1, d, ws.w_xT.data(), H}, {ws.e.data() + r * E, 1, E, ws.w_eT.data(), H}}, H,
        ws.h.data() + r * H);
  // swish(h) = h·sigmoid(h) over the whole block (vectorized sigmoid).
  const Index m = n * H;
  sigmoid(ws.h.data(), ws.sig.data(), m);
  for (Index k = 0; k < m; ++k) ws.act.data()[k] = ws.h.data()[k] * ws.sig.data()[k];
  // out = Linear(H → d)(swish(h)) · c / s(t).
  for (Index r = 0; r < n; ++r) {
    const ConstRowMap act(ws.act.data() + r * H, H);
    for (Index i = 0; i < d; ++i) ws.S(r, i) = (act.dot(ConstRowMap(w_o + i * H, H)) + b_o[i]) * ws.k[r];
  }
}

template <class F>
void ReferenceMlp::for_each_block(const Matrix& X, const Vector& t, F&& f) const {
  // A local workspace per call keeps score() safe to call from several threads.
  Workspace ws;
  prepare(ws);
  for (Index begin = 0; begin < X.rows(); begin += kBlockRows) {
    ws.resize(std::min(kBlockRows, X.rows() - begin), d_, options_.hidden, embedding_.dim());
    forward(X, t, begin, ws);
    f(begin, ws);
  }
}

void ReferenceMlp::score(const Matrix& X, const Vector& t, Matrix& out) const {
  check_input(X, t);
  out.resize(X.rows(), d_);
  for_each_block(X, t, [&](Index begin, const Workspace& ws) { out.middleRows(begin, ws.S.rows()) = ws.S; });
}

Vector ReferenceMlp::divergence_weights() const {
  const Index d = d_, H = options_.hidden;
  const double* w_x = theta_.data() + layout_.w_x;
  const double* w_o = theta_.data() + layout_.w_o;
  // ∂out_i/∂x_i = c/s(t) Σ_j w_o[i,j] swish'(h_j) w_x[j,i], so the trace is
  // c/s(t) Σ_j swish'(h_j) q_j with q_j = Σ_i w_o[i,j] w_x[j,i] shared by all points.
  Vector q = Vector::Zero(H);
  for (Index j = 0; j < H; ++j)
    for (Index i = 0; i < d; ++i) q[j] += w_o[i * H + j] * w_x[j * d + i];
  return q;
}

namespace {

// c/s(t) Σ_j swish'(h_j) q_j for every row of a forward-pass block.
template <class Workspace>
void block_divergence(const Workspace& ws, const Vector& q, Index begin, Vector& out) {
  const Index H = q.size();
  for (Index r = 0; r < ws.S.rows(); ++r) {
    double sum = 0.0;
    for (Index j = 0; j < H; ++j) sum += swish_derivative(ws.h(r, j), ws.sig(r, j)) * q[j];
    out[begin + r] = ws.k[r] * sum;
  }
}

}  // namespace

void ReferenceMlp::divergence(const Matrix& X, const Vector& t, Vector& out) const {
  check_input(X, t);
  const Vector q = divergence_weights();
  out.resize(X.rows());
  for_each_block(X, t, [&](Index begin, const Workspace& ws) { block_divergence(ws, q, begin, out); });
}

void ReferenceMlp::score_and_divergence(const Matrix& X, const Vector& t, Matrix& score_out, Vector& div_out) const {
  check_input(X, t);
  const Vector q = divergence_weights();
  score_out.resize(X.rows(), d_);
  div_out.resize(X.rows());
  for_each_block(X, t, [&](Index begin, const Workspace& ws) {
    score_out.middleRows(begin, ws.S.rows()) = ws.S;
    block_divergence(ws, q, begin, div_out);
  });
}

double ReferenceMlp::loss_and_gradient(const Matrix& X, const Vector& t, const LossHead& head, Vector& grad) {
  check_input(X, t);
  const Index B = X.rows(), d = d_, H = options_.hidden, E = embedding_.dim();
  Workspace& ws = ws_;
  ws.resize(B, d, H, E);
  prepare(ws);
  forward(X, t, 0, ws);
  const double loss = head(ws.S, ws.dS);
  if (ws.dS.rows() != B || ws.dS.cols() != d)
    throw std::logic_error(fmt::format("reference-mlp: the loss head resized dS to {}x{}", ws.dS.rows(), ws.dS.cols()));

  // dLoss/dh for every row: the output layer is S = (w_o act + b_o) · k, so
  // dLoss/d(w_o act + b_o) = dS · k (kept in dS from here on) and
  // dLoss/d act = Σ_i (dS_i · k) w_o[i, :]; then through swish.
  const double* w_o = theta_.data() + layout_.w_o;
  for (Index r = 0; r < B; ++r) {
    ws.dS.row(r) *= ws.k[r];
    double* g_h = ws.g_h.data() + r * H;
    linear_combination(nullptr, {{ws.dS.data() + r * d, 1, d, w_o, H}}, H, g_h);
    for (Index j = 0; j < H; ++j) g_h[j] *= swish_derivative(ws.h(r, j), ws.sig(r, j));
  }
  // Every weight gradient is a sum over rows of (input coefficient) × (row of
  // dLoss/d output); both input Linears share h, so they share dLoss/dh.
  grad.resize(layout_.size);
  double* g = grad.data();
  const double* g_h = ws.g_h.data();
  for (Index i = 0; i < d; ++i) {
    linear_combination(nullptr, {{ws.dS.data() + i, d, B, ws.act.data(), H}}, H, g + layout_.w_o + i * H);
    g[layout_.b_o + i] = ws.dS.col(i).sum();
    linear_combination(nullptr, {{X.data() + i, d, B, g_h, H}}, H, ws.g_w_xT.data() + i * H);
  }
  for (Index q = 0; q < E; ++q)
    linear_combination(nullptr, {{ws.e.data() + q, E, B, g_h, H}}, H, ws.g_w_eT.data() + q * H);
  linear_combination(nullptr, {{nullptr, 0, B, g_h, H}}, H, g + layout_.b_x);
  // Back to PyTorch's [out][in] layout; b_e receives the same gradient as b_x.
  for (Index j = 0; j < H; ++j) {
    for (Index i = 0; i < d; ++i) g[layout_.w_x + j * d + i] = ws.g_w_xT[i * H + j];
    for (Index q = 0; q < E; ++q) g[layout_.w_e + j * E + q] = ws.g_w_eT[q * H + j];
    g[layout_.b_e + j] = g[layout_.b_x + j];
  }
  return loss;
}

}  // namespace diffgen
