/* Catalogue filters: narrow the list of case studies by any combination of facets.
 * Runs in the browser only, on the page that has the #kb-filters form; no server, no network.
 * The choices are kept in the address (?region=...&tier=...) so a filtered list can be shared.
 * Each option's count says how many case studies it would leave with the other choices kept;
 * options that would leave none are disabled. With nothing left, one button removes the last
 * filter chosen. On a narrow screen the filters fold away under their summary. */
(function () {
  "use strict";

  var WIDE = "(min-width: 45em)";

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
    var panel = document.getElementById("kb-filter-panel");
    var list = document.getElementById("kb-catalogue");
    var count = document.getElementById("kb-count");
    if (!form || !list || !count || form.getAttribute("data-kb-ready")) {
      return;
    }
    form.setAttribute("data-kb-ready", "true");
    var chosenNote = document.getElementById("kb-filter-chosen");
    var empty = document.getElementById("kb-empty");
    var undo = document.getElementById("kb-undo");
    var clear = document.getElementById("kb-clear");
    var selects = Array.prototype.slice.call(form.querySelectorAll("select[data-facet]"));
    var cards = Array.prototype.slice.call(list.querySelectorAll(".kb-card"));
    var total = cards.length;
    var order = []; // facets in the order they were chosen: the last is undone first

    var params = new URLSearchParams(window.location.search);
    selects.forEach(function (select) {
      var facet = select.getAttribute("data-facet");
      var wanted = params.get(facet);
      if (wanted && select.querySelector('option[value="' + CSS.escape(wanted) + '"]')) {
        select.value = wanted;
        order.push(facet);
      }
    });

    function facetOf(select) {
      return select.getAttribute("data-facet");
    }

    function matches(card, chosen, skip) {
      return chosen.every(function (pair) {
        return pair[0] === skip || words(card.getAttribute("data-" + pair[0])).indexOf(pair[1]) >= 0;
      });
    }

    function label(select) {
      var heading = form.querySelector('label[for="' + select.id + '"]');
      var option = select.options[select.selectedIndex];
      return (heading ? heading.textContent + ": " : "") + (option.getAttribute("data-label") || "");
    }

    function apply() {
      var chosen = selects
        .filter(function (select) { return select.value; })
        .map(function (select) { return [facetOf(select), select.value]; });
      order = order.filter(function (facet) {
        return chosen.some(function (pair) { return pair[0] === facet; });
      });
      var shown = 0;
      cards.forEach(function (card) {
        var keep = matches(card, chosen, null);
        card.hidden = !keep;
        if (keep) {
          shown += 1;
        }
      });
      // each option's count: the case studies it would leave, the other facets' choices kept
      selects.forEach(function (select) {
        var facet = facetOf(select);
        var others = cards.filter(function (card) { return matches(card, chosen, facet); });
        Array.prototype.forEach.call(select.options, function (option) {
          if (!option.value) {
            return;
          }
          var n = others.filter(function (card) {
            return words(card.getAttribute("data-" + facet)).indexOf(option.value) >= 0;
          }).length;
          option.textContent = option.getAttribute("data-label") + " (" + n + ")";
          option.disabled = n === 0 && select.value !== option.value;
        });
      });
      count.textContent = describe(shown, total);
      count.setAttribute("data-shown", String(shown));
      if (chosenNote) {
        chosenNote.textContent = chosen.length ? "(" + chosen.length + " chosen)" : "";
      }
      if (empty) {
        empty.hidden = shown > 0;
        var last = selects.filter(function (s) { return facetOf(s) === order[order.length - 1]; })[0];
        if (undo) {
          undo.hidden = !last;
          undo.textContent = last ? "Remove the last filter (" + label(last) + ")" : "";
        }
      }
      var query = new URLSearchParams();
      chosen.forEach(function (pair) { query.set(pair[0], pair[1]); });
      var search = query.toString();
      var address = window.location.pathname + (search ? "?" + search : "") + window.location.hash;
      window.history.replaceState(null, "", address);
    }

    form.addEventListener("change", function (event) {
      var facet = event.target && event.target.getAttribute("data-facet");
      if (facet) {
        order = order.filter(function (f) { return f !== facet; });
        if (event.target.value) {
          order.push(facet);
        }
      }
      apply();
    });
    form.addEventListener("reset", function () {
      order = [];
      window.setTimeout(apply, 0);
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    if (undo) {
      undo.addEventListener("click", function () {
        var facet = order.pop();
        selects.forEach(function (select) {
          if (facetOf(select) === facet) {
            select.value = "";
          }
        });
        apply();
      });
    }
    if (clear) {
      clear.addEventListener("click", function () { form.reset(); });
    }
    if (panel) {
      panel.hidden = false;
      panel.open = window.matchMedia(WIDE).matches;
    }
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
