// Errors of the data layer. Each message is one line for a person: what is wrong and what to do;
// the CLI prints it alone, without a stack.
import { CocaError } from '../util/errors.ts';

/** A dataset, caption file, image or tokenizer that cannot be used as given. */
export class DataError extends CocaError {
  override name = 'DataError';
}
