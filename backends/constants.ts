// Constants of generated code (document-end tables, hoisted initialisers), each declared once
// however often the spelled expressions read it: what the backends' spellers share.
export class ConstantDecls {
  readonly decls: string[] = [];
  private readonly seen = new Map<string, string>();

  /** The reference to the constant keyed `key`; the first time, `declare(index)` (index: how
   *  many constants came before) gives its declarations and reference. */
  protected intern(key: string, declare: (index: number) => { decls: string[]; ref: string }): string {
    const found = this.seen.get(key);
    if (found !== undefined) return found;
    const made = declare(this.seen.size);
    this.seen.set(key, made.ref);
    this.decls.push(...made.decls);
    return made.ref;
  }
}
