"""gfn_teach: Generative Flow Networks on the hypergrid and any small environment, small enough to read in one sitting."""

from ._startup import quiet_interrupt_while_importing

with quiet_interrupt_while_importing():
    from .checks import check_environment as check_environment
    from .config import TrainConfig as TrainConfig
    from .environment import Environment as Environment
    from .estimators import elbo as elbo
    from .estimators import estimate_log_pt as estimate_log_pt
    from .estimators import eubo as eubo
    from .estimators import reward_log_pt_correlation as reward_log_pt_correlation
    from .exact import ExactFlows as ExactFlows
    from .exact import exact_flows as exact_flows
    from .exact import exact_tabular_policy as exact_tabular_policy
    from .exact import policy_tables as policy_tables
    from .exact import state_graph as state_graph
    from .exact import terminal_distribution as terminal_distribution
    from .exact import terminal_distribution_from_log_pf as terminal_distribution_from_log_pf
    from .prose import glue as glue
    from .hypergrid import REWARD_PRESETS as REWARD_PRESETS
    from .hypergrid import Hypergrid as Hypergrid
    from .hypergrid import HypergridReward as HypergridReward
    from .lego import LegoSpaceship as LegoSpaceship
    from .lego import draw_ships as draw_ships
    from .losses import detailed_balance as detailed_balance
    from .losses import flow_matching as flow_matching
    from .losses import modified_detailed_balance as modified_detailed_balance
    from .losses import subtrajectory_balance as subtrajectory_balance
    from .losses import trajectory_balance as trajectory_balance
    from .losses import trajectory_terms as trajectory_terms
    from .losses import visited_nodes as visited_nodes
    from .metrics import compare as compare
    from .metrics import empirical_distribution as empirical_distribution
    from .metrics import jensen_shannon as jensen_shannon
    from .metrics import kl_divergence as kl_divergence
    from .metrics import marginal_2d as marginal_2d
    from .metrics import modes_found as modes_found
    from .metrics import sampling_noise_floor as sampling_noise_floor
    from .metrics import total_variation as total_variation
    from .paths import log_path_counts as log_path_counts
    from .paths import maxent_rl_distribution as maxent_rl_distribution
    from .paths import maxent_rl_policy as maxent_rl_policy
    from .paths import soft_rl_distribution as soft_rl_distribution
    from .paths import soft_values as soft_values
    from .policy import MLPPolicy as MLPPolicy
    from .policy import PolicyOutput as PolicyOutput
    from .policy import TabularPolicy as TabularPolicy
    from .policy import masked_log_softmax as masked_log_softmax
    from .rollout import Trajectory as Trajectory
    from .rollout import backward_rollout as backward_rollout
    from .rollout import forward_rollout as forward_rollout
    from .rollout import split_into_transitions as split_into_transitions
    from .train import Hyperparams as Hyperparams
    from .train import TrainState as TrainState
    from .train import evaluate as evaluate
    from .train import init_state as init_state
    from .train import make_train as make_train
    from .train import train_chunk as train_chunk
    from .train import train_step as train_step
    from .tempered import Tempered as Tempered
    from .tempered import conditional_train_step as conditional_train_step
    from .tempered import log_uniform_betas as log_uniform_betas
    from .tempered import make_conditional_train as make_conditional_train
    from .tempered import tempered_batch as tempered_batch
    from .speedups import compile_quickly as compile_quickly
    from .speedups import on_visited_rows as on_visited_rows
    from .speedups import use_every_cpu_core as use_every_cpu_core
    from .trainer import Trainer as Trainer
    from .trainer import fit_together as fit_together
    from .trainer import TrainingDiverged as TrainingDiverged
    from .trainer import TrainResult as TrainResult
    from .trainer import train as train  # after the import of the module gfn_teach.train

__version__ = "0.1.0"
