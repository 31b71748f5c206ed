/* Catalogue filters: narrow the list of case studies by any combination of facets.
 * Runs in the browser only, on the page that has the #kb-filters form; no server, no network.
 * The choices are kept in the address (?region=...&tier=...) so a filtered list can be shared. */
(function () {
  "use strict";

  function words(value) {
    return (value || "").split(" ").filter(Boolean);
  }

  function describe(shown, total) {
    var noun = total === 1 ? "case study" : "case studies";
    if (shown === total) {
      return total + " " + noun + ".";
    }
    return "Showing " + shown + " of " + total + " " + noun + ".";
  }

  function setup() {
    var form = document.getElementById("kb-filters");
    var list = document.getElementById("kb-catalogue");
    var count = document.getElementById("kb-count");
    if (!form || !list || !count || form.getAttribute("data-kb-ready")) {
      return;
    }
    form.setAttribute("data-kb-ready", "true");
    var selects = Array.prototype.slice.call(form.querySelectorAll("select[data-facet]"));
    var cards = Array.prototype.slice.call(list.querySelectorAll(".kb-card"));
    var total = cards.length;

    var params = new URLSearchParams(window.location.search);
    selects.forEach(function (select) {
      var wanted = params.get(select.getAttribute("data-facet"));
      if (wanted && select.querySelector('option[value="' + CSS.escape(wanted) + '"]')) {
        select.value = wanted;
      }
    });

    function apply() {
      var chosen = selects
        .filter(function (select) { return select.value; })
        .map(function (select) { return [select.getAttribute("data-facet"), select.value]; });
      var shown = 0;
      cards.forEach(function (card) {
        var keep = chosen.every(function (pair) {
          return words(card.getAttribute("data-" + pair[0])).indexOf(pair[1]) >= 0;
        });
        card.hidden = !keep;
        if (keep) {
          shown += 1;
        }
      });
      count.textContent = describe(shown, total);
      count.setAttribute("data-shown", String(shown));
      var query = new URLSearchParams();
      chosen.forEach(function (pair) { query.set(pair[0], pair[1]); });
      var search = query.toString();
      var address = window.location.pathname + (search ? "?" + search : "") + window.location.hash;
      window.history.replaceState(null, "", address);
    }

    form.addEventListener("change", apply);
    form.addEventListener("reset", function () { window.setTimeout(apply, 0); });
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.hidden = false;
    apply();
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(setup);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
