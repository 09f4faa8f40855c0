"""gfn_teach: Generative Flow Networks on the hypergrid, small enough to read in one sitting."""

from .config import TrainConfig as TrainConfig
from .exact import ExactFlows as ExactFlows
from .exact import exact_flows as exact_flows
from .exact import exact_tabular_policy as exact_tabular_policy
from .exact import policy_tables as policy_tables
from .exact import terminal_distribution as terminal_distribution
from .exact import terminal_distribution_from_log_pf as terminal_distribution_from_log_pf
from .prose import glue as glue
from .hypergrid import REWARD_PRESETS as REWARD_PRESETS
from .hypergrid import Hypergrid as Hypergrid
from .hypergrid import HypergridReward as HypergridReward
from .losses import detailed_balance as detailed_balance
from .losses import flow_matching as flow_matching
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
from .policy import MLPPolicy as MLPPolicy
from .policy import PolicyOutput as PolicyOutput
from .policy import TabularPolicy as TabularPolicy
from .policy import masked_log_softmax as masked_log_softmax
from .rollout import Trajectory as Trajectory
from .rollout import backward_rollout as backward_rollout
from .rollout import forward_rollout as forward_rollout
from .rollout import split_into_transitions as split_into_transitions
from .train import Trainer as Trainer
from .train import TrainingDiverged as TrainingDiverged
from .train import TrainResult as TrainResult
from .train import make_train as make_train
from .train import train as train
from .train import use_every_cpu_core as use_every_cpu_core

__version__ = "0.1.0"
