#include "experiments/experiment.hpp"

namespace diffgen {

// Each experiment's factory, defined in its own file.
std::unique_ptr<Experiment> make_early_stopping_experiment();
std::unique_ptr<Experiment> make_mode_shift_experiment();
std::unique_ptr<Experiment> make_optimizers_experiment();
std::unique_ptr<Experiment> make_capacity_experiment();
std::unique_ptr<Experiment> make_chen_t_sweep_experiment();
std::unique_ptr<Experiment> make_chen_m_sweep_experiment();
std::unique_ptr<Experiment> make_chen_regularized_experiment();
std::unique_ptr<Experiment> make_gradient_flow_experiment();
std::unique_ptr<Experiment> make_rates_experiment();
std::unique_ptr<Experiment> make_sampler_kl_experiment();

namespace {

// Keys renamed when the settings were grouped by concept (diffgen 0.2), old
// name first; an old name may map to a key of several concepts.
constexpr std::pair<const char*, const char*> kRenamed[] = {
    {"n", "data.n"},
    {"eps", "sde.eps"},
    {"model", "model.kind"},
    {"hidden", "model.mlp.hidden"},
    {"output_scale", "model.mlp.output_scale"},
    {"output_scaling", "model.mlp.output_scaling"},
    {"embed_dim", "model.mlp.embed_dim"},
    {"embed_dim", "model.random_features.embed_dim"},
    {"embed_scale", "model.mlp.embed_scale"},
    {"embed_scale", "model.random_features.embed_scale"},
    {"rf.width", "model.random_features.width"},
    {"rf.init_std", "model.random_features.init_std"},
    {"optimizer", "train.optimizer"},
    {"lr", "train.lr"},
    {"momentum", "train.momentum"},
    {"weight_decay", "train.weight_decay"},
    {"adam.beta1", "train.adam.beta1"},
    {"adam.beta2", "train.adam.beta2"},
    {"adam.eps", "train.adam.eps"},
    {"batch", "train.batch"},
    {"loss", "train.loss"},
    {"epochs", "train.epochs"},
    {"switch.epoch", "train.switch.epoch"},
    {"switch.optimizer", "train.switch.optimizer"},
    {"switch.lr", "train.switch.lr"},
    {"kl_ode.every", "kl.ode.every"},
    {"kl_ode.reference", "kl.ode.reference"},
    {"kl_ode.prior", "kl.ode.prior"},
    {"kl_ode.points", "kl.ode.points"},
    {"kl_ode.rtol", "kl.ode.rtol"},
    {"kl_ode.atol", "kl.ode.atol"},
    {"memorization.steps", "sampler.steps"},
    {"memorization.time_grid", "sampler.time_grid"},
    {"trained.n", "data.n"},
    {"trained.epochs", "train.epochs"},
    {"trained.batch", "train.batch"},
    {"trained.hidden", "model.mlp.hidden"},
    {"trained.optimizer", "train.optimizer"},
    {"trained.lr", "train.lr"},
    {"trained.sigma", "sde.sigma"},
    {"trained.eps", "sde.eps"},
    {"trained.grids", "trained_grids"},
    {"sgd.lr", "sgd_lr"},
    {"adam.lr", "adam_lr"},
};

}  // namespace

Schema Experiment::schema() const {
  Schema s = keys();
  for (const auto& [old_key, new_key] : kRenamed)
    if (!s.find(old_key)) s.add_renamed(old_key, new_key);
  return s;
}

void Experiment::validate(const Config& config) const {
  plan(config, 1);  // reading the settings checks them
}

const std::vector<std::unique_ptr<Experiment>>& experiments() {
  // The registry, in `diffgen list` order: one line per experiment.
  static const std::vector<std::unique_ptr<Experiment>> all = [] {
    std::vector<std::unique_ptr<Experiment>> v;
    v.push_back(make_early_stopping_experiment());
    v.push_back(make_mode_shift_experiment());
    v.push_back(make_optimizers_experiment());
    v.push_back(make_capacity_experiment());
    v.push_back(make_chen_t_sweep_experiment());
    v.push_back(make_chen_m_sweep_experiment());
    v.push_back(make_chen_regularized_experiment());
    v.push_back(make_gradient_flow_experiment());
    v.push_back(make_rates_experiment());
    v.push_back(make_sampler_kl_experiment());
    return v;
  }();
  return all;
}

const Experiment* find_experiment(std::string_view name) {
  for (const auto& e : experiments())
    if (e->name() == name) return e.get();
  return nullptr;
}

}  // namespace diffgen
