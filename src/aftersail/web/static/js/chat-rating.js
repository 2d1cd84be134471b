// The rating row under a resolved case: one click records 1–5 at once, then an optional comment can follow
// (sent with the same rating; the server keeps the last answer).

export class RatingPanel {
  /** rate(ticketId, rating, comment) → Promise; describe(error) → a message for the buyer. */
  constructor(root, { text, rate, describe }) {
    this.root = root;
    this.text = text;
    this.rate = rate;
    this.describe = describe;
    this.ticketId = null;
    this.rating = null;
    this.buttons = [...root.querySelectorAll("[data-rating]")];
    this.status = root.querySelector("#rating-status");
    this.form = root.querySelector("#rating-comment");
    for (const button of this.buttons) {
      button.addEventListener("click", () => this.choose(Number(button.dataset.rating)));
    }
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendComment();
    });
  }

  show(ticketId) {
    if (this.ticketId === ticketId && !this.root.hidden) return;
    this.ticketId = ticketId;
    this.rating = null;
    for (const button of this.buttons) button.setAttribute("aria-pressed", "false");
    this.status.hidden = true;
    this.form.hidden = true;
    this.form.reset();
    this.root.hidden = false;
  }

  hide() {
    this.root.hidden = true;
    this.ticketId = null;
  }

  async choose(rating) {
    if (this.ticketId === null) return;
    for (const button of this.buttons) button.disabled = true;
    try {
      await this.rate(this.ticketId, rating, "");
      this.rating = rating;
      for (const button of this.buttons) {
        button.setAttribute("aria-pressed", String(Number(button.dataset.rating) === rating));
      }
      this.say(this.text.rated);
      this.form.hidden = false;
    } catch (error) {
      this.say(this.describe(error), true);
    } finally {
      for (const button of this.buttons) button.disabled = false;
    }
  }

  async sendComment() {
    const comment = this.form.elements.comment.value.trim();
    if (!comment || this.rating === null) return;
    const submit = this.form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      await this.rate(this.ticketId, this.rating, comment);
      this.form.hidden = true;
      this.say(this.text.commentSaved);
    } catch (error) {
      this.say(this.describe(error), true);
    } finally {
      submit.disabled = false;
    }
  }

  say(message, isError = false) {
    this.status.textContent = message;
    this.status.classList.toggle("is-error", isError);
    this.status.hidden = false;
  }
}
