// The rating page (/rate/{token}): a link that carried `?rating=N` shows a form holding N, which is posted at
// once here. Recording only on POST keeps mail scanners, which open every link of an e-mail, from rating.

function firstVisit(key) {
  // Coming back to the link's page (the back button) must not post its rating over a later choice.
  try {
    if (window.sessionStorage.getItem(key)) return false;
    window.sessionStorage.setItem(key, "1");
  } catch {
    /* storage refused: posting again is harmless */
  }
  return true;
}

const form = document.querySelector("form[data-autosubmit]");
if (form && firstVisit(`aftersail.rate.${form.dataset.autosubmit}`)) form.requestSubmit();
