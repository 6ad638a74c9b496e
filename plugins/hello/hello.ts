/**
 * `hello`: the smallest useful agent. Its state is one counter, which
 * survives sleep, restarts and crashes because it lives in `this.state`.
 *
 * ```sh
 * roam plugin add plugins/hello         # packs it, then installs it
 * roam agent create hello               # prints its id
 * roam agent send ID echo '{"hi":1}'    # {"hi":1}
 * roam agent send ID increment          # 1
 * roam agent send ID count              # 1
 * ```
 *
 * @module
 */
import { Agent, type Message } from "@roam/agent";

/** The state of a hello agent. */
export interface HelloState {
  /** How many `increment` messages it has handled. */
  count: number;
}

/** Answers `echo` with its arguments, counts `increment` messages, and tells the `count`. */
export default class Hello extends Agent<HelloState> {
  override initialState(): HelloState {
    return { count: 0 };
  }

  override handleMessage(msg: Message): unknown {
    switch (msg.kind) {
      case "echo":
        return msg.args;
      case "increment":
        return ++this.state.count;
      case "count":
        return this.state.count;
      default:
        return super.handleMessage(msg);
    }
  }
}
